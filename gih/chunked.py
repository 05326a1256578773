"""Chunked request bodies under gunicorn: read them instead of seeing an empty body.

Why: Django sizes every body by CONTENT_LENGTH. A client that streams its body with
`Transfer-Encoding: chunked` (curl with `-H "Transfer-Encoding: chunked"`, many HTTP
libraries for a generator or file body) sends none, so Django read zero bytes and the
API answered "model: This field is required". Gunicorn de-chunks the stream and marks
it with `wsgi.input_terminated` (the input ends by itself). This WSGI wrapper reads
such a body up to the same limit the API applies to declared lengths (into a spooled
temporary file, so a large multipart upload goes to disk) and hands Django a body with
a length; a longer body gets the usual 413 envelope.
"""

import json
import tempfile

from django.conf import settings

from gih.errors import request_body_limit

_READ_SIZE = 64 * 1024


class ChunkedBodyMiddleware:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if (
            environ.get("wsgi.input_terminated")
            and not environ.get("CONTENT_LENGTH")
            and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        ):
            limit = request_body_limit(environ.get("CONTENT_TYPE", ""))
            body = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)
            size = 0
            stream = environ["wsgi.input"]
            while chunk := stream.read(_READ_SIZE):
                size += len(chunk)
                if size > limit:
                    body.close()
                    return _too_large(start_response, limit)
                body.write(chunk)
            body.seek(0)
            environ["CONTENT_LENGTH"] = str(size)
            environ["wsgi.input"] = body
        return self.app(environ, start_response)


def _too_large(start_response, limit: int):
    payload = json.dumps(
        {"error": {"message": f"The request body exceeds {limit} bytes.", "code": "request_too_large"}}
    ).encode()
    start_response(
        "413 Request Entity Too Large",
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload))), ("Connection", "close")],
    )
    return [payload]
