"""Response shapes of the public API."""

import base64
from collections.abc import Callable
from datetime import datetime, timedelta

from django.utils import timezone

from generations.failures import public_failure_reason
from generations.files import signed_url_lifetime
from generations.models import GeneratedImage, Generation, ImageModel


def unix(value: datetime) -> int:
    return int(value.timestamp())


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def model_payload(model: ImageModel) -> dict:
    """One entry of /api/v1/models: OpenAI's model object plus the hub's fields."""
    prices = list(model.prices.all())
    default_price = next((price.credits_per_image for price in prices if price.quality == model.default_quality), None)
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


def image_url(image: GeneratedImage, absolute_url: Callable[[str], str]) -> str | None:
    """The stored image's URL; None once retention or its owner deleted the file."""
    return None if image.expired_at else absolute_url(image.file.url)


def url_expiry() -> str | None:
    """When URLs signed now stop working (S3 query-string auth); None when they do not expire."""
    lifetime = signed_url_lifetime()
    return None if lifetime is None else iso(timezone.now() + timedelta(seconds=lifetime))


def _image_payload(
    image: GeneratedImage,
    absolute_url: Callable[[str], str],
    content: Callable[[GeneratedImage], bytes] | None,
    url_expires_at: str | None,
) -> dict:
    expired = image.expired_at is not None
    payload = {
        "id": image.id,
        "object": "image",
        "url": image_url(image, absolute_url),
        "url_expires_at": None if expired else url_expires_at,
        "expired": expired,
        "width": image.width,
        "height": image.height,
        "content_type": image.content_type,
        "created_at": iso(image.created_at),
    }
    if content is not None and not expired:  # response_format: b64_json
        payload["b64_json"] = base64.b64encode(content(image)).decode()
    return payload


def _data_entry(image: dict) -> dict:
    entry = {"url": image["url"], "revised_prompt": None}
    if "b64_json" in image:
        entry["b64_json"] = image["b64_json"]
    if image["expired"]:
        entry["expired"] = True
    return entry


def generation_payload(
    generation: Generation,
    *,
    absolute_url: Callable[[str], str],
    balance: dict | None = None,
    poll_url: str | None = None,
    content: Callable[[GeneratedImage], bytes] | None = None,
) -> dict:
    """The documented image_generation object, plus OpenAI's `created` and `data` for SDK clients.

    With `content` (response_format b64_json), each image also carries its bytes in `b64_json`.
    """
    # Images are written with the move to succeeded (transitions.generation_succeed): other states have none.
    succeeded = generation.status == Generation.Status.SUCCEEDED
    expiry = url_expiry() if succeeded else None
    images = (
        [_image_payload(image, absolute_url, content, expiry) for image in generation.images.all()] if succeeded else []
    )
    payload = {
        "object": "image_generation",
        "id": generation.id,
        "status": generation.status,
        "livemode": generation.livemode,  # false: a test key's free, locally rendered generation
        "model": generation.model_id,
        "prompt": generation.prompt,
        "n": generation.n,
        "aspect_ratio": generation.aspect_ratio,
        "quality": generation.quality,
        "size": generation.size,
        "async": generation.is_async,
        "created_at": iso(generation.created_at),
        "started_at": iso(generation.started_at),
        "finished_at": iso(generation.finished_at),
        "created": unix(generation.created_at),
        "images": images,
        "data": [_data_entry(image) for image in images],
        "usage": {
            "credits": generation.credits_used if generation.is_terminal else 0,
            "credits_requested": generation.credits_charged,
            "credits_refunded": generation.credits_refunded,
        },
    }
    if generation.status == Generation.Status.FAILED:
        payload["error"] = {"code": "generationFailed", "message": public_failure_reason(generation.error_code)}
    if balance is not None:
        payload["balance"] = balance
    if poll_url is not None:
        payload["poll_url"] = poll_url
    return payload
