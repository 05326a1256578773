"""Bearer API key authentication for the DRF views, with the documented 401 codes."""

from rest_framework import authentication, exceptions

from accounts import services
from gih.client_ip import client_ip


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        try:
            raw_key = services.bearer_value(request.META.get("HTTP_AUTHORIZATION", ""))
            api_key = services.api_key_authenticate(raw_key=raw_key, client_ip=client_ip(request))
        except services.ApiKeyRejected as rejection:
            raise exceptions.AuthenticationFailed(rejection.message, code=rejection.code) from None
        return api_key.user, api_key

    def authenticate_header(self, request) -> str:
        return services.WWW_AUTHENTICATE
