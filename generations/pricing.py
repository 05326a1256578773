"""From the two documented request styles to one pixel size, one provider quality and a price.

- Older docs: `aspect_ratio` (auto + 15 ratios) with `quality` 1K/2K/4K, a resolution tier.
- Newer docs: OpenAI's `size` (auto or WxH) with `quality` auto/low/medium/high.
Mixing is accepted only where the meaning is unambiguous: an aspect_ratio with an
OpenAI quality (sized at the 1K tier), or an aspect_ratio that agrees with size.
"""

import math
import re
from dataclasses import dataclass

from generations.models import ImageModel
from gih.errors import InvalidRequest

# Target pixel counts of the resolution tiers; 4K is capped by the model's max_pixels.
TIER_PIXELS = {"1K": 1024 * 1024, "2K": 2048 * 2048, "4K": 3840 * 2160}
# `size=auto` lets the provider pick among 1024x1024, 1536x1024 and 1024x1536: priced as the largest.
AUTO_SIZE_PIXELS = 1536 * 1024
# Tier requests leave the rendering quality to the provider.
TIER_PROVIDER_QUALITY = "auto"
RATIO_TOLERANCE = 0.02
_SIZE = re.compile(r"([0-9]{1,5})x([0-9]{1,5})")


@dataclass(frozen=True)
class Resolution:
    aspect_ratio: str  # as reported back to the client
    quality: str  # as requested (1K/2K/4K or auto/low/medium/high)
    size: str  # "WxH" or "auto", as sent to the provider
    provider_quality: str
    pixels: int  # what the price is based on


def _ratio_value(ratio: str) -> float:
    width, height = ratio.split(":")
    return int(width) / int(height)


def _parse_size(size: str) -> tuple[int, int] | None:
    """(width, height) of a positive WxH size, else None.

    ASCII digits only (str.isdigit() also accepts "²", which int() refuses) and no zero
    edge (the aspect-ratio check divides by the shorter edge): both used to answer 500.
    """
    match = _SIZE.fullmatch(size.lower())
    if match is None or not int(match[1]) or not int(match[2]):
        return None
    return int(match[1]), int(match[2])


def _check_size(model: ImageModel, width: int, height: int) -> None:
    problems = []
    if width % model.size_multiple or height % model.size_multiple:
        problems.append(f"both edges must be multiples of {model.size_multiple}")
    if max(width, height) > model.max_edge:
        problems.append(f"the longest edge must be at most {model.max_edge}")
    if not model.min_pixels <= width * height <= model.max_pixels:
        problems.append(f"the pixel count must be between {model.min_pixels} and {model.max_pixels}")
    if max(width, height) / min(width, height) > model.max_aspect_ratio + 1e-9:
        problems.append(f"the aspect ratio must be at most {model.max_aspect_ratio:g}:1")
    if problems:
        raise InvalidRequest(f"size: {width}x{height} is not supported by {model.id}: " + "; ".join(problems) + ".")


def size_for_ratio(model: ImageModel, ratio: str, target_pixels: int) -> tuple[int, int]:
    """The largest size of the given ratio, at most `target_pixels`, that the model accepts.

    Never more than the target: rounding edges up to the size multiple could push a 2K
    image past 2048x2048 pixels, out of the 2K price bracket (and so unpriceable).
    """
    value = _ratio_value(ratio)
    step = model.size_multiple
    target = min(target_pixels, model.max_pixels)
    width = math.sqrt(target * value)
    height = width / value
    scale = min(1.0, model.max_edge / max(width, height))
    width, height = width * scale, height * scale
    width = max(step, round(width / step) * step)
    height = max(step, round(height / step) * step)
    while width * height > target or max(width, height) > model.max_edge:
        if width >= height:
            width -= step
        else:
            height -= step
    return width, height


def ratio_label(model: ImageModel, width: int, height: int) -> str:
    """The listed ratio closest to WxH (within 2%), else the reduced W:H."""
    value = width / height
    for ratio in model.aspect_ratios:
        if ratio != "auto" and abs(_ratio_value(ratio) - value) / value <= RATIO_TOLERANCE:
            return ratio
    divisor = math.gcd(width, height)
    return f"{width // divisor}:{height // divisor}"


def resolve(model: ImageModel, *, aspect_ratio: str | None, size: str | None, quality: str | None) -> Resolution:
    """Validate the size-related fields of a request and settle what to send and charge."""
    if aspect_ratio is not None and aspect_ratio not in model.aspect_ratios:
        raise InvalidRequest(
            f"aspect_ratio: {aspect_ratio!r} is not supported by {model.id}; "
            f"use one of {', '.join(model.aspect_ratios)}."
        )
    if quality is not None and quality not in model.qualities:
        raise InvalidRequest(
            f"quality: {quality!r} is not supported by {model.id}; use one of {', '.join(model.qualities)}."
        )
    parsed = None
    if size is not None and size != "auto":
        parsed = _parse_size(size)
        if parsed is None:
            raise InvalidRequest(f"size: {size!r} must be 'auto' or WIDTHxHEIGHT, for example 1024x1024.")
        _check_size(model, *parsed)
    if quality is None:
        quality = "auto" if size is not None else model.default_quality

    if quality in model.tier_qualities:
        if parsed is not None:
            raise InvalidRequest(
                f"size: cannot be combined with quality {quality!r}, which is a resolution tier; "
                "send aspect_ratio with 1K/2K/4K, or size with auto/low/medium/high."
            )
        ratio = aspect_ratio or model.default_aspect_ratio
        if ratio == "auto" and quality == "1K":
            return Resolution("auto", quality, "auto", TIER_PROVIDER_QUALITY, AUTO_SIZE_PIXELS)
        width, height = size_for_ratio(model, "1:1" if ratio == "auto" else ratio, TIER_PIXELS[quality])
        return Resolution(ratio, quality, f"{width}x{height}", TIER_PROVIDER_QUALITY, width * height)

    # OpenAI style.
    if parsed is not None:
        width, height = parsed
        label = ratio_label(model, width, height)
        if aspect_ratio not in (None, "auto") and label != aspect_ratio:
            raise InvalidRequest(f"aspect_ratio: {aspect_ratio!r} contradicts size {size!r} ({label}).")
        reported = label if aspect_ratio in (None, "auto") else aspect_ratio
        return Resolution(reported, quality, f"{width}x{height}", quality, width * height)
    if aspect_ratio in (None, "auto"):
        return Resolution("auto", quality, "auto", quality, AUTO_SIZE_PIXELS)
    width, height = size_for_ratio(model, aspect_ratio, TIER_PIXELS["1K"])
    return Resolution(aspect_ratio, quality, f"{width}x{height}", quality, width * height)


def credits_per_image(model: ImageModel, resolution: Resolution) -> int:
    """The cheapest price row of the quality that covers the image's pixel count.

    Reads the model's prices in memory: the catalogue (generations/catalogue.py) prefetches them.
    """
    covering = [
        row for row in model.prices.all() if row.quality == resolution.quality and row.max_pixels >= resolution.pixels
    ]
    price = min(covering, key=lambda row: row.max_pixels).credits_per_image if covering else None
    if price is None:
        raise InvalidRequest(
            f"quality: {resolution.quality!r} at size {resolution.size} has no price for {model.id}; "
            "choose a smaller size or another quality."
        )
    return price
