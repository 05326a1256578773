"""Bearer API key authentication for the DRF views, with the documented 401 codes."""

from functools import partial

from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts import services
from accounts.selectors import api_key_by_prefix
from billing.api_key_loaders import api_key_for_generation
from gih.client_ip import client_ip


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def loader(self):
        """How the key is read by its prefix (accounts.services.api_key_authenticate's `load`)."""
        return api_key_by_prefix

    def authenticate(self, request):
        try:
            raw_key = services.bearer_value(request.META.get("HTTP_AUTHORIZATION", ""))
            api_key = services.api_key_authenticate(raw_key=raw_key, load=self.loader(), client_ip=client_ip(request))
        except services.ApiKeyRejected as rejection:
            raise exceptions.AuthenticationFailed(rejection.message, code=rejection.code) from None
        return api_key.user, api_key

    def authenticate_header(self, request) -> str:
        return services.WWW_AUTHENTICATE


class GenerationApiKeyAuthentication(ApiKeyAuthentication):
    """For the generation views: the authenticating query also reads the key's limits and its owner's usable
    credits (billing.api_key_loaders.api_key_for_generation), which the request reads next anyway."""

    def loader(self):
        return partial(api_key_for_generation, now=timezone.now())
