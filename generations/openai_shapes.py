"""Response shapes of the OpenAI face (/v1/...) and the image stream events of both faces.

OpenAI's ImagesResponse exactly: `created`, `data[]` (`b64_json` by default, `url`
on request), `background`, `output_format`, `quality`, `size` as actually used
(never `auto`) and `usage` in OpenAI's token shape. The hub's own facts (generation
id, credits, balance) travel in `x-gih-*` headers, so the body stays what OpenAI
clients validate.
"""

from collections.abc import Callable

import pybase64

from generations.models import GeneratedImage, Generation, ImageModel
from generations.serializers import image_url, unix
from gih.renderers import Base64

EXTENSION_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}
ZERO_USAGE = {
    "input_tokens": 0,
    "input_tokens_details": {"text_tokens": 0, "image_tokens": 0},
    "output_tokens": 0,
    "total_tokens": 0,
}


def openai_model(model: ImageModel) -> dict:
    """OpenAI's model object, nothing more (the hub's catalogue fields are on /api/v1/models)."""
    return {"id": model.id, "object": "model", "created": unix(model.created_at), "owned_by": model.provider}


def used(generation: Generation, images: list[GeneratedImage]) -> dict:
    """What the generation actually used: the provider's report, else the stored files' own facts."""
    report = generation.provider_output or {}
    first = images[0] if images else None
    size = report.get("size") or (f"{first.width}x{first.height}" if first else generation.size)
    output_format = (EXTENSION_FORMATS.get(first.content_type) if first else None) or report.get("output_format")
    background = report.get("background") or generation.options.get("background") or "opaque"
    quality = report.get("quality") or generation.provider_quality
    return {
        "background": "opaque" if background == "auto" else background,
        "output_format": output_format or generation.options.get("output_format") or "png",
        "quality": "high" if quality == "auto" else quality,  # `auto` is priced (and estimated) as high
        "size": "1024x1024" if size == "auto" else size,
    }


def images_response(
    generation: Generation,
    images: list[GeneratedImage],
    *,
    response_format: str,
    content: Callable[[GeneratedImage], bytes],
    absolute_url: Callable[[str], str],
) -> dict:
    """OpenAI's ImagesResponse for a succeeded generation.

    An image whose file is gone (retention, or its owner's DELETE; only a replay can see one)
    keeps its place in `data` with no URL or bytes and `"expired": true`.
    """
    data = []
    for image in images:
        if image.expired_at:
            data.append({response_format: None, "expired": True})
        elif response_format == "url":
            data.append({"url": image_url(image, absolute_url)})
        else:
            data.append({"b64_json": Base64(content(image))})  # encoded into the body by OrjsonRenderer
    return {
        "created": unix(generation.created_at),
        "data": data,
        **used(generation, images),
        "usage": generation.token_usage or ZERO_USAGE,
    }


def gih_headers(generation: Generation, balance: dict | None = None) -> dict[str, str]:
    """The hub's facts about the call, for clients that want them without a second request."""
    headers = {
        "x-gih-generation-id": generation.pk,
        "x-gih-credits-charged": str(generation.credits_charged - generation.credits_refunded),
        "x-gih-livemode": "true" if generation.livemode else "false",  # false: a test key's free generation
    }
    if balance is not None:
        headers["x-gih-credits-balance"] = str(balance["credits"])
    return headers


# --- Stream events (both faces) -------------------------------------------------


def event_prefix(edit: bool) -> str:
    return "image_edit" if edit else "image_generation"


def partial_event(generation: Generation, *, edit: bool, content: bytes, index: int, created_at: int) -> dict:
    options = generation.options
    background = options.get("background") or "auto"
    return {
        "type": f"{event_prefix(edit)}.partial_image",
        "b64_json": pybase64.b64encode(content).decode(),
        "background": background,
        "created_at": created_at,
        "output_format": options.get("output_format") or "png",
        "partial_image_index": index,
        "quality": generation.quality if generation.quality in ("low", "medium", "high") else "auto",
        "size": generation.size,
    }


def completed_event(
    generation: Generation, images: list[GeneratedImage], image: GeneratedImage, *, edit: bool, content: bytes | None
) -> dict:
    """`content` None: the image's file is gone (a replay after retention or DELETE)."""
    event = {
        "type": f"{event_prefix(edit)}.completed",
        "b64_json": None if content is None else pybase64.b64encode(content).decode(),
        "created_at": unix(generation.finished_at or generation.created_at),
        **used(generation, images),
        "usage": generation.token_usage or ZERO_USAGE,
    }
    if content is None:
        event["expired"] = True
    return event


def error_event(error: dict) -> dict:
    """`error` is OpenAI's error object ({"message", "type", "param", "code"}); the SDKs raise it as an APIError."""
    return {"type": "error", "error": error}
