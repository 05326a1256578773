"""Gunicorn's own error answers (malformed HTTP, over-long request line or headers) in our JSON envelope.

Why: gunicorn answers requests it cannot parse itself, before Django sees them, with a
small HTML page. API clients expect `{"error": {"message", "code"}}` on every error.
Gunicorn writes all of those pages through one function, `gunicorn.util.write_error`
(called from the worker's handle_error); install() replaces it, keeping gunicorn's
status, reason and message. Limits (gunicorn's defaults, kept): a request line of at most
4094 bytes (414-class errors answer 400), at most 100 header fields of at most 8190
bytes each (431), chunked bodies only as the last transfer coding (501 otherwise).
"""

import json

from gunicorn import util

_CODES = {
    400: "invalid_request",
    403: "permission_denied",
    417: "expectation_failed",
    431: "request_headers_too_large",
    500: "internal_error",
    501: "not_implemented",
}


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    message = f"{reason}: {mesg}" if mesg else reason
    body = json.dumps({"error": {"message": message, "code": _CODES.get(status_int, "invalid_request")}})
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, (head + body).encode("ascii"))  # json.dumps escapes all non-ASCII


def install() -> None:
    util.write_error = write_json_error
