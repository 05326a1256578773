"""What a generation cost the hub at the provider, and what it left, in USD.

The provider cost is an estimate: the call's token usage (the provider's own report, or
the hub's estimate for providers that do not count) at the model's ProviderPrice, fixed
on the generation when it succeeds. Revenue is the credits it kept (charged minus
refunded) at CREDIT_VALUE_USD, the dollar value of one credit.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist

from generations.catalogue import catalogue
from generations.models import Generation, ProviderPrice
from generations.providers.base import TokenUsage

MILLION = Decimal(1_000_000)
MICRO_USD = Decimal("0.000001")


def cost_from_usage(price: ProviderPrice, token_usage: dict | None) -> Decimal | None:
    usage = TokenUsage.from_openai(token_usage)
    if usage is None:
        return None
    cost = (
        usage.input_text_tokens * price.input_text_usd_per_million
        + usage.input_image_tokens * price.input_image_usd_per_million
        + usage.output_tokens * price.output_usd_per_million
    ) / MILLION
    return cost.quantize(MICRO_USD)


def _provider_price(model_id: str) -> ProviderPrice | None:
    """The model's provider price: from the cached catalogue (generations/catalogue.py), else the database."""
    model = catalogue().enabled_model(model_id)
    if model is None:  # disabled since the generation started
        return ProviderPrice.objects.filter(model_id=model_id).first()
    try:
        return model.provider_price
    except ObjectDoesNotExist:
        return None


def provider_cost_usd(*, model_id: str, token_usage: dict | None) -> Decimal | None:
    """The estimated provider cost of a call; None without a usage report or a price for the model."""
    price = _provider_price(model_id)
    return None if price is None else cost_from_usage(price, token_usage)


def credit_value_usd() -> Decimal:
    return Decimal(str(settings.CREDIT_VALUE_USD))


def revenue_usd(generation: Generation) -> Decimal:
    """The credits the generation kept, in dollars (a refunded credit earned nothing)."""
    return (generation.credits_used * credit_value_usd()).quantize(MICRO_USD)


def margin_usd(generation: Generation) -> Decimal | None:
    """Revenue minus provider cost; None while the cost is unknown (unfinished, failed, or no price)."""
    if generation.provider_cost_usd is None:
        return None
    return revenue_usd(generation) - generation.provider_cost_usd
