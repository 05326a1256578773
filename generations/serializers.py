"""Response shapes of the public API."""

from datetime import datetime

from generations.models import ImageModel


def unix(value: datetime) -> int:
    return int(value.timestamp())


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def model_payload(model: ImageModel) -> dict:
    """One entry of /api/v1/models: OpenAI's model object plus the hub's fields."""
    prices = list(model.prices.all())
    default_price = next(
        (price.credits_per_image for price in prices if price.quality == model.default_quality), None
    )
    return {
        "id": model.id,
        "object": "model",
        "created": unix(model.created_at),
        "owned_by": model.provider,
        "name": model.display_name,
        "display_name": model.display_name,
        "provider": model.provider,
        "provider_model": model.provider_model,
        "defaults": {"aspect_ratio": model.default_aspect_ratio, "quality": model.default_quality},
        "qualities": model.qualities,
        "tier_qualities": model.tier_qualities,
        "openai_qualities": model.openai_qualities,
        "aspect_ratios": model.aspect_ratios,
        "sizes": model.sizes,
        "size_limits": {
            "multiple_of": model.size_multiple,
            "max_edge": model.max_edge,
            "min_pixels": model.min_pixels,
            "max_pixels": model.max_pixels,
            "max_aspect_ratio": model.max_aspect_ratio,
        },
        "reference_image_limit": model.reference_image_limit,
        "max_images_per_request": 4,
        "credits_per_image": default_price,
        "pricing": [
            {"quality": price.quality, "max_pixels": price.max_pixels, "credits_per_image": price.credits_per_image}
            for price in prices
        ],
    }
