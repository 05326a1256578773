"""Provider registry: one module per provider, chosen by the model's `provider` field.

With IMAGE_PROVIDER=local every model is rendered by the embedded renderer (demo,
development), and so is every test key's generation (`livemode=False`): a free
generation must never reach a paid provider. Otherwise each model goes to its own
provider. An unknown provider is an error, never a silent fallback to fake images.
"""

from django.conf import settings

from generations.providers.base import (
    OUTPUT_FORMATS,
    ImageProvider,
    PartialCallback,
    PartialImage,
    ProviderError,
    ProviderRequest,
    ProviderResult,
    ReferenceImageData,
    TokenUsage,
)


def _registry() -> dict[str, type[ImageProvider]]:
    from generations.providers.local import LocalProvider
    from generations.providers.openai import OpenAIProvider

    return {OpenAIProvider.name: OpenAIProvider, LocalProvider.name: LocalProvider}


def _configured(provider_name: str, livemode: bool = True) -> str:
    return "local" if settings.IMAGE_PROVIDER == "local" or not livemode else provider_name


def provider_for(provider_name: str, *, livemode: bool = True) -> ImageProvider:
    name = _configured(provider_name, livemode)
    try:
        return _registry()[name]()
    except KeyError:
        raise ProviderError(
            f"No provider named {name!r} is configured.", code="provider_unknown", permanent=True
        ) from None


def provider_streams(provider_name: str) -> bool:
    """Whether the provider that runs this model's generations relays partial images (see ImageProvider.streams)."""
    provider = _registry().get(_configured(provider_name))
    return provider is not None and provider.streams


__all__ = [
    "OUTPUT_FORMATS",
    "ImageProvider",
    "PartialCallback",
    "PartialImage",
    "ProviderError",
    "ProviderRequest",
    "ProviderResult",
    "ReferenceImageData",
    "TokenUsage",
    "provider_for",
    "provider_streams",
]
