"""The default model catalogue: gpt-image-2 as the public docs describe it, with a default price table.

Brackets by pixel count: up to 1536x1024 (all 1K-tier and `auto` sizes), up to
2048x2048 (2K tier), up to the 8.3 MP maximum (4K tier). Staff edit the rows in
the admin; the docs' examples hold: 1 credit at 1K, 8 credits at high 1024x1024.
Used by the data migration (with historical models) and by the test suite.
"""

from generations.models import default_aspect_ratios

BRACKETS = (1_572_864, 4_194_304, 8_294_400)
PRICES = {
    "low": (1, 3, 6),
    "medium": (3, 8, 16),
    "high": (8, 20, 40),
    "auto": (8, 20, 40),  # the provider may choose high, so auto is priced as high
}
TIER_PRICES = {"1K": (BRACKETS[0], 1), "2K": (BRACKETS[1], 3), "4K": (BRACKETS[2], 6)}
GPT_IMAGE_2 = {
    "display_name": "GPT IMAGE 2",
    "provider": "openai",
    "provider_model": "gpt-image-2",
    "enabled": True,
    "default_aspect_ratio": "auto",
    "default_quality": "1K",
    "aspect_ratios": default_aspect_ratios(),
    "tier_qualities": ["1K", "2K", "4K"],
    "openai_qualities": ["auto", "low", "medium", "high"],
    "sizes": [
        "auto",
        "1024x1024",
        "1536x1024",
        "1024x1536",
        "2048x2048",
        "2048x1152",
        "1152x2048",
        "3840x2160",
        "2160x3840",
    ],
    "reference_image_limit": 16,
}


# OpenAI's published token prices for its GPT image models (gpt-image-1: text in $5, image in $10,
# image out $40 per million tokens), the defaults of the provider price table until staff set the real ones.
PROVIDER_PRICES = {"gpt-image-2": {"input_text": "5.00", "input_image": "10.00", "output": "40.00"}}


def seed_provider_prices(image_model_class, provider_price_class) -> None:
    """Give the default models their provider prices if they have none (staff-set rows are left alone)."""
    for model_id, prices in PROVIDER_PRICES.items():
        if image_model_class.objects.filter(pk=model_id).exists():
            provider_price_class.objects.get_or_create(
                model_id=model_id,
                defaults={
                    "input_text_usd_per_million": prices["input_text"],
                    "input_image_usd_per_million": prices["input_image"],
                    "output_usd_per_million": prices["output"],
                },
            )


def seed_default_models(image_model_class, model_price_class) -> None:
    """Create gpt-image-2 and its prices if missing (existing rows are left as staff set them)."""
    model, created = image_model_class.objects.get_or_create(id="gpt-image-2", defaults=GPT_IMAGE_2)
    if not created:
        return
    rows = [
        model_price_class(model=model, quality=quality, max_pixels=max_pixels, credits_per_image=price)
        for quality, credits in PRICES.items()
        for max_pixels, price in zip(BRACKETS, credits, strict=True)
    ]
    rows += [
        model_price_class(model=model, quality=quality, max_pixels=max_pixels, credits_per_image=price)
        for quality, (max_pixels, price) in TIER_PRICES.items()
    ]
    model_price_class.objects.bulk_create(rows)
