"""Bearer API key authentication for the DRF views, with the documented 401 codes."""

from rest_framework import authentication, exceptions

from accounts import services
from accounts.selectors import api_key_by_prefix
from gih.client_ip import client_ip


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        # A view may read more in the key's query (`api_key_loader`: the generation views' limits and credits).
        view = (request.parser_context or {}).get("view")
        load = view.api_key_loader() if hasattr(view, "api_key_loader") else api_key_by_prefix
        try:
            raw_key = services.bearer_value(request.META.get("HTTP_AUTHORIZATION", ""))
            api_key = services.api_key_authenticate(raw_key=raw_key, load=load, client_ip=client_ip(request))
        except services.ApiKeyRejected as rejection:
            raise exceptions.AuthenticationFailed(rejection.message, code=rejection.code) from None
        return api_key.user, api_key

    def authenticate_header(self, request) -> str:
        return services.WWW_AUTHENTICATE

