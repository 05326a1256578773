"""Every API error, one envelope: {"error": {"message": ..., "code": ...}}.

The codes are the public contract (see the API docs): 400 invalid_request,
401 missingApiKey/invalidApiKey/expiredApiKey, 402 insufficientCredits,
404 notFound, 500 generationFailed; the others use snake_case names (503 service_unavailable
and account_busy carry Retry-After; so do a key's 429 rate_limited and concurrency_limit_reached,
next to its 402 spend_limit_reached and 403 model_not_allowed / ip_not_allowed: generations/admission.py).
Under /v1/ (the OpenAI face) the same errors take OpenAI's shape instead
(gih/openai_errors.py): this module decides status, code and message for both.
"""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation, TooManyFilesSent
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf
from rest_framework.views import set_rollback

from gih.db import is_disconnect
from gih.openai_errors import is_openai_path, openai_error_response

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the API reports to the client as it is."""

    status_code = 400
    code = "invalid_request"
    default_message = "Invalid request body"

    param: str | None = None  # the request field at fault, when one is (OpenAI's `param`)
    retryable: bool | None = None  # whether the same request may succeed later; None: decided by the status

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        param: str | None = None,
        retryable: bool | None = None,
        headers: dict[str, str] | None = None,
    ):
        self.message = message or self.default_message
        self.headers = headers or {}  # sent with the error (Retry-After)
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        if param:
            self.param = param
        if retryable is not None:
            self.retryable = retryable
        super().__init__(self.message)


class InvalidRequest(ApiError):
    pass


class NotFound(ApiError):
    status_code = 404
    code = "notFound"
    default_message = "The requested resource was not found."


class InsufficientCreditsError(ApiError):
    status_code = 402
    code = "insufficientCredits"
    default_message = "The account does not have enough credits."


class IdempotencyConflict(ApiError):
    status_code = 409
    code = "idempotency_key_reused"
    default_message = "This Idempotency-Key was already used with a different request body."


class GenerationRunning(ApiError):
    status_code = 409
    code = "generation_running"
    default_message = "The generation is already running; the provider is working on it and it cannot be canceled."


class GenerationFinished(ApiError):
    status_code = 409
    code = "generation_finished"
    default_message = "The generation has already finished."


class GenerationFailed(ApiError):
    status_code = 500
    code = "generationFailed"
    default_message = "Image generation failed."


class ServiceUnavailable(ApiError):
    status_code = 503
    code = "service_unavailable"
    default_message = "The service is temporarily unavailable. Please retry shortly."


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> JsonResponse:
    response = JsonResponse({"error": {"message": message, "code": code}}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def envelope_response(
    path: str, status: int, code: str, message: str, headers: dict | None = None, *, exc: Exception | None = None
) -> JsonResponse:
    """The error in the shape of the face `path` belongs to: OpenAI's object under /v1/, ours elsewhere."""
    if is_openai_path(path):
        return openai_error_response(
            status,
            code,
            message,
            headers,
            param=getattr(exc, "param", None),
            retryable=getattr(exc, "retryable", None),
        )
    return error_response(status, code, message, headers)


def validation_message(detail, path: str = "") -> str:
    """Flatten DRF's nested validation detail into 'field: message'."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = path if key == "non_field_errors" else (f"{path}.{key}" if path else str(key))
            return validation_message(value, name)
    if isinstance(detail, list) and detail:
        return validation_message(detail[0], path)
    return f"{path}: {detail}" if path else str(detail)


_DRF_CODES = {
    drf.MethodNotAllowed: (405, "method_not_allowed"),
    drf.UnsupportedMediaType: (415, "unsupported_media_type"),
    drf.NotAcceptable: (406, "not_acceptable"),
    drf.Throttled: (429, "rate_limited"),
    drf.PermissionDenied: (403, "permission_denied"),
    drf.NotFound: (404, "notFound"),
}


def _envelope_for(exc: Exception) -> tuple[int, str, str, dict] | None:
    from accounts.services import WWW_AUTHENTICATE, ApiKeyRejected
    from billing.services import AccountBusy, InsufficientCredits

    if isinstance(exc, ApiKeyRejected):
        return 401, exc.code, exc.message, {"WWW-Authenticate": WWW_AUTHENTICATE}
    if isinstance(exc, ApiError):
        return exc.status_code, exc.code, exc.message, exc.headers
    if isinstance(exc, InsufficientCredits):
        return 402, InsufficientCreditsError.code, str(exc), {}
    if isinstance(exc, AccountBusy):
        return 503, "account_busy", str(exc), {"Retry-After": "1"}
    if is_disconnect(exc):
        # The database went away (restart, failover, pool exhausted while reconnecting): retryable.
        logger.warning("Database unavailable: %s", exc)
        return 503, ServiceUnavailable.code, "The database is unavailable; please retry shortly.", {"Retry-After": "1"}
    if isinstance(exc, RequestDataTooBig):
        return 413, "request_too_large", "The request body is too large.", {}
    if isinstance(exc, TooManyFilesSent):
        return 400, "invalid_request", "Too many files in the request.", {}
    if isinstance(exc, Http404):
        return 404, "notFound", NotFound.default_message, {}
    if isinstance(exc, PermissionDenied):
        return 403, "permission_denied", "You do not have permission to do this.", {}
    if isinstance(exc, SuspiciousOperation):
        return 400, "invalid_request", "The request could not be understood.", {}
    if isinstance(exc, drf.AuthenticationFailed | drf.NotAuthenticated):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "missingApiKey"
        if code in {"not_authenticated", "authentication_failed"}:
            code = "missingApiKey"
        return 401, code, str(exc.detail), {"WWW-Authenticate": WWW_AUTHENTICATE}
    if isinstance(exc, drf.ValidationError):
        return 400, "invalid_request", validation_message(exc.detail), {}
    if isinstance(exc, drf.ParseError):
        return 400, "invalid_request", f"Malformed request body: {exc.detail}", {}
    for cls, (status, code) in _DRF_CODES.items():
        if isinstance(exc, cls):
            headers = {}
            if isinstance(exc, drf.Throttled) and exc.wait:
                headers["Retry-After"] = str(int(exc.wait))
            return status, code, str(exc.detail), headers
    if isinstance(exc, drf.APIException):
        return exc.status_code, str(exc.default_code), str(exc.detail), {}
    return None


def api_exception_handler(exc: Exception, context: dict):
    """DRF's EXCEPTION_HANDLER: known errors become the envelope; others become a 500."""
    envelope = _envelope_for(exc)
    if envelope is None:
        return None  # ApiErrorMiddleware turns it into a logged 500 envelope.
    set_rollback()
    status, code, message, headers = envelope
    request = context.get("request")
    return envelope_response(request.path if request else "", status, code, message, headers, exc=exc)


def request_body_limit(content_type: str) -> int:
    """The most bytes a request body may have: only multipart bodies carry files; others are parsed in memory."""
    is_multipart = content_type.startswith("multipart/")
    return settings.API_MAX_BODY_BYTES if is_multipart else settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _server_error_code(path: str) -> str:
    return GenerationFailed.code if path.startswith(("/api/v1/images/", "/v1/images/")) else "internal_error"


def _is_api(request) -> bool:
    """The API faces: /api/ (ours) and /v1/ (OpenAI's); everything else is the HTML site."""
    return request.path.startswith("/api/") or is_openai_path(request.path)


class ApiErrorMiddleware:
    """Under /api/ and /v1/, an unexpected exception becomes a logged 500 envelope, even in DEBUG.

    It also refuses bodies over API_MAX_BODY_BYTES with 413 before anything reads them.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path_info:
            # No URL of ours contains NUL, and Postgres refuses it in a query (a 500 before).
            if _is_api(request):
                return envelope_response(request.path, 404, "notFound", NotFound.default_message)
            raise Http404("No such page.")
        if _is_api(request):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return envelope_response(request.path, 400, "invalid_request", "Invalid Content-Length header.")
            limit = request_body_limit(request.META.get("CONTENT_TYPE", ""))
            if length > limit:
                message = f"The request body exceeds {limit} bytes."
                return envelope_response(request.path, 413, "request_too_large", message)
        return self.get_response(request)

    def process_exception(self, request, exc):
        if not _is_api(request):
            return None
        envelope = _envelope_for(exc)
        if envelope is not None:
            status, code, message, headers = envelope
            return envelope_response(request.path, status, code, message, headers, exc=exc)
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return envelope_response(request.path, 500, _server_error_code(request.path), "An internal error occurred.")


@csrf_exempt  # any method gets the 404: a POST must not meet the CSRF check's HTML 403 first
def api_not_found(request, *args, **kwargs):
    """Catch-all for unknown /api/ and /v1/ paths (also in DEBUG, where handler404 is bypassed)."""
    return envelope_response(request.path, 404, "notFound", f"No API endpoint at {request.path}.")


def csrf_failure(request, reason: str = ""):
    """CSRF_FAILURE_VIEW: the API faces answer their envelope; the HTML site keeps Django's page."""
    if _is_api(request):
        return envelope_response(request.path, 403, "permission_denied", "CSRF verification failed.")
    from django.views.csrf import csrf_failure as django_csrf_failure

    return django_csrf_failure(request, reason=reason)


def handler400(request, exception=None):
    if _is_api(request):
        status, code, message, _ = _envelope_for(exception) or (400, "invalid_request", "Bad request.", {})
        return envelope_response(request.path, status, code, message, exc=exception)
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler404(request, exception=None):
    if _is_api(request):
        return envelope_response(request.path, 404, "notFound", NotFound.default_message)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    if _is_api(request):
        return envelope_response(request.path, 500, _server_error_code(request.path), "An internal error occurred.")
    from django.views.defaults import server_error

    return server_error(request)
