"""Bearer API key authentication with the documented 401 codes."""

from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts import services


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise exceptions.AuthenticationFailed(
                "Missing API key: send 'Authorization: Bearer gih_live_...'.", code="missingApiKey"
            )
        api_key = services.api_key_authenticate(raw_key=parts[1])
        if api_key is None:
            raise exceptions.AuthenticationFailed(
                "The API key does not exist or has been revoked.", code="invalidApiKey"
            )
        if api_key.is_expired(timezone.now()):
            raise exceptions.AuthenticationFailed("The API key is expired.", code="expiredApiKey")
        if not api_key.user.is_active:
            raise exceptions.AuthenticationFailed(
                "The API key does not exist or has been revoked.", code="invalidApiKey"
            )
        return api_key.user, api_key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
