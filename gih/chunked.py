"""Chunked request bodies under gunicorn: read them instead of seeing an empty body.

Why: Django sizes every body by CONTENT_LENGTH. A client that streams its body with
`Transfer-Encoding: chunked` (curl with `-H "Transfer-Encoding: chunked"`, many HTTP
libraries for a generator or file body) sends none, so Django read zero bytes and the
API answered "model: This field is required". Gunicorn de-chunks the stream and marks
it with `wsgi.input_terminated` (the input ends by itself). This middleware reads such a
body up to the same limit the API applies to declared lengths (into a spooled temporary
file, so a large multipart upload goes to disk) and hands Django a body with a length; a
longer body gets the usual 413 envelope.

It runs after the fair share (gih/fair_share.py), so one client reads at most its share of
bodies at once, and an API request without any credential is not read at all: it can only
be answered 401, which needs no body. (As a WSGI wrapper in front of Django it read every
chunked body first: an anonymous client wrote 5.5 GB to disk in 27 s, each upload then 401.)
"""

import tempfile

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream

from gih.errors import envelope_response, request_body_limit
from gih.openai_errors import is_openai_path

_READ_SIZE = 64 * 1024


def _is_chunked(meta: dict) -> bool:
    return bool(
        meta.get("wsgi.input_terminated")
        and not meta.get("CONTENT_LENGTH")
        and "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower()
    )


class ChunkedBodyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META  # the WSGI environ itself
        if not _is_chunked(meta):
            return self.get_response(request)
        is_api = request.path.startswith("/api/") or is_openai_path(request.path)
        if is_api and not meta.get("HTTP_AUTHORIZATION"):
            return self.get_response(request)  # refused for its missing key, body unread
        limit = request_body_limit(meta.get("CONTENT_TYPE", ""))
        body = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)
        size = 0
        stream = meta["wsgi.input"]
        while chunk := stream.read(_READ_SIZE):
            size += len(chunk)
            if size > limit:
                body.close()
                return envelope_response(
                    request.path, 413, "request_too_large", f"The request body exceeds {limit} bytes."
                )
            body.write(chunk)
        body.seek(0)
        meta["CONTENT_LENGTH"] = str(size)
        meta["wsgi.input"] = body
        request._stream = LimitedStream(body, size)  # WSGIRequest sized its stream at 0 bytes before we knew
        return self.get_response(request)
