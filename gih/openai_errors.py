"""Errors on the OpenAI face (/v1/...): OpenAI's error object, the hub's status codes.

`{"error": {"message", "type", "param", "code"}}`, with OpenAI's `type` for the
status, so the official SDKs raise their usual classes (BadRequestError,
AuthenticationError, ...) and clients that read `type` or `param` find them. The
same exceptions as on /api/v1 come in (gih/errors.py decides status, code and
message); only the shape differs.

`x-should-retry: false` goes on every answer a retry cannot change (bad input, a bad
key, no credits, a content-policy refusal, a permanent provider failure): the SDKs
retry 5xx, 409 and 429 by default, and obey that header before their own rules.
"""

import re

from django.http import JsonResponse

OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    406: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}
# The hub's codes where OpenAI spells its own differently; the others pass as they are.
OPENAI_CODES = {
    "invalidApiKey": "invalid_api_key",
    "missingApiKey": "missing_api_key",
    "expiredApiKey": "expired_api_key",
    "insufficientCredits": "insufficient_credits",
    "notFound": "not_found",
    "generationFailed": "generation_failed",
    "rate_limited": "rate_limit_exceeded",
}
# Statuses a retry of the same request cannot turn into a success.
FINAL_STATUSES = frozenset({400, 401, 402, 403, 404, 405, 406, 409, 413, 415})
_PARAM_PREFIX = re.compile(r"^([A-Za-z_][\w\[\].-]*): ")


def is_openai_path(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


def openai_type(status: int) -> str:
    return OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def param_of(message: str) -> str | None:
    """The field a validation message names ("size: ..." → "size"), if any."""
    match = _PARAM_PREFIX.match(message)
    return match[1] if match else None


def openai_error(status: int, code: str | None, message: str, *, param: str | None = None) -> dict:
    if param is None and status == 400:
        param = param_of(message)
    return {
        "error": {
            "message": message,
            "type": openai_type(status),
            "param": param,
            "code": OPENAI_CODES.get(code, code) if code else None,
        }
    }


def openai_error_response(
    status: int,
    code: str | None,
    message: str,
    headers: dict | None = None,
    *,
    param: str | None = None,
    retryable: bool | None = None,
) -> JsonResponse:
    """The error object as a response; `retryable=None` decides from the status."""
    response = JsonResponse(openai_error(status, code, message, param=param), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    if retryable is None:
        retryable = status not in FINAL_STATUSES
    if not retryable:
        response["x-should-retry"] = "false"
    return response
