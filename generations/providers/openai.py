"""OpenAI Images API adapter (being written)."""

from generations.providers.base import ImageProvider, ProviderError, ProviderRequest, ProviderResult


class OpenAIProvider(ImageProvider):
    name = "openai"

    def generate(self, request: ProviderRequest) -> ProviderResult:
        raise ProviderError("The OpenAI adapter is not available yet.", code="provider_unavailable", permanent=True)
