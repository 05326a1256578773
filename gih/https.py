"""Plain HTTP on the API is refused, never redirected.

A redirect would come too late: the client already sent its key (and its body) in clear, and most HTTP clients
follow a 301 on a POST with a GET and no body, so the call fails in a confusing way. The account pages still
redirect to https (SecurityMiddleware, SECURE_SSL_REDIRECT) because browsers follow that safely; health and
metrics probes are exempt from both (SECURE_REDIRECT_EXEMPT) as load balancers probe over plain HTTP.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

API_PATH_PREFIXES = ("/api/", "/v1/")
HTTPS_REQUIRED_MESSAGE = "This API is served over HTTPS only: resend the request to the https:// address."


def is_api_path(path: str) -> bool:
    return path.startswith(API_PATH_PREFIXES) or path in ("/api", "/v1")


class ApiHttpsOnlyMiddleware:
    """With API_REQUIRE_HTTPS (on when DEBUG is off), answer 403 `https_required` to a plain-HTTP API request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.API_REQUIRE_HTTPS and not request.is_secure() and is_api_path(request.path):
            error = {"message": HTTPS_REQUIRED_MESSAGE, "code": "https_required"}
            if request.path.startswith("/v1"):  # the OpenAI-compatible face also carries type and param
                error = {"message": HTTPS_REQUIRED_MESSAGE, "type": "invalid_request_error", "param": None,
                         "code": "https_required"}
            return JsonResponse({"error": error}, status=403)
        return self.get_response(request)
