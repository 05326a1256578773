"""The embedded renderer: real images drawn with Pillow, no server needed.

Used by the demo and whenever IMAGE_PROVIDER=local. Each image is derived from
the prompt (its colours come from the prompt's hash, its text is drawn on it)
and from the reference images (shown as an inset), at the requested size. It
honours the output options the way OpenAI does, so clients see the same bytes
they would get there: a real PNG, JPEG or WebP at the asked compression, real alpha
for a transparent background (the backdrop is see-through, the subject is not), real
partial images while streaming (coarser renders of the final one), and token usage
estimated from OpenAI's published accounting.
"""

import hashlib
import io
import textwrap
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from PIL import Image, ImageDraw, ImageFont, ImageOps

from generations.providers import usage
from generations.providers.base import (
    ImageProvider,
    PartialCallback,
    PartialImage,
    ProviderRequest,
    ProviderResult,
)
from gih import fair_share
from gih.offload import off_loop

T = TypeVar("T")

AUTO_SIZE = (1024, 1024)
AUTO_QUALITY = "high"  # what `auto` is priced as (generations/pricing.py)
PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def _parse_size(size: str) -> tuple[int, int]:
    if size == "auto":
        return AUTO_SIZE
    width, height = size.lower().split("x")
    return int(width), int(height)


def _colour(seed: bytes, offset: int) -> tuple[int, int, int]:
    return seed[offset], seed[offset + 1], seed[offset + 2]


def draw_image(
    prompt: str, width: int, height: int, index: int = 0, references: list[bytes] = (), *, transparent: bool = False
) -> Image.Image:
    """The picture itself: RGB, or RGBA whose backdrop is fully transparent."""
    seed = hashlib.sha256(f"{prompt}\x00{index}".encode()).digest()
    top, bottom = _colour(seed, 0), _colour(seed, 3)
    # A vertical gradient drawn on a 1-pixel-wide strip, then stretched: fast at 4K.
    strip = Image.new("RGB", (1, 256))
    for y in range(256):
        t = y / 255
        strip.putpixel((0, y), tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    image = strip.resize((width, height))
    draw = ImageDraw.Draw(image)
    # With a transparent background only the subject (the disc, the insets, the text) is opaque.
    alpha = Image.new("L", (width, height), 0) if transparent else None
    alpha_draw = ImageDraw.Draw(alpha) if alpha is not None else None
    accent = _colour(seed, 6)
    radius = min(width, height) // 4
    cx, cy = width * (0.25 + seed[9] / 510), height * (0.25 + seed[10] / 510)
    disc = (cx - radius, cy - radius, cx + radius, cy + radius)
    draw.ellipse(disc, outline=accent, width=max(2, radius // 12))
    if alpha_draw is not None:
        alpha_draw.ellipse(disc, fill=255)

    for position, reference in enumerate(references[:4]):
        with Image.open(io.BytesIO(reference)) as ref:
            inset = ImageOps.contain(ref.convert("RGB"), (width // 4, height // 4))
        margin = max(8, width // 64)
        corner = (margin + position * (width // 4 + margin), height - inset.height - margin)
        image.paste(inset, corner)
        if alpha_draw is not None:
            alpha_draw.rectangle((*corner, corner[0] + inset.width - 1, corner[1] + inset.height - 1), fill=255)

    font_size = max(12, min(width, height) // 24)
    try:
        font = ImageFont.load_default(size=font_size)
    except TypeError:  # Pillow without FreeType
        font = ImageFont.load_default()
    lines = textwrap.wrap(prompt, width=max(10, int(width / (font_size * 0.6))))[:6]
    text = "\n".join(lines) + f"\n#{index + 1}"
    margin = max(8, width // 40)
    draw.multiline_text((margin + 2, margin + 2), text, fill=(0, 0, 0), font=font, spacing=4)
    draw.multiline_text((margin, margin), text, fill=(255, 255, 255), font=font, spacing=4)
    if alpha_draw is not None:
        alpha_draw.multiline_text((margin + 2, margin + 2), text, fill=255, font=font, spacing=4)
        alpha_draw.multiline_text((margin, margin), text, fill=255, font=font, spacing=4)
        image.putalpha(alpha)
    return image


def encode_image(image: Image.Image, output_format: str = "png", compression: int | None = None) -> bytes:
    """Encode as OpenAI would send it; `compression` (0-100, default 100) is the JPEG/WebP quality."""
    output = io.BytesIO()
    if output_format == "png":
        image.save(output, format="PNG", compress_level=1)
    elif output_format == "jpeg":
        image.convert("RGB").save(output, format="JPEG", quality=100 if compression is None else compression)
    elif output_format == "webp":
        quality = 100 if compression is None else compression
        image.save(output, format="WEBP", quality=quality, method=0)
    else:
        raise ValueError(f"Unknown output format {output_format!r}")
    return output.getvalue()


def render_image(
    prompt: str,
    width: int,
    height: int,
    index: int = 0,
    references: list[bytes] = (),
    *,
    output_format: str = "png",
    compression: int | None = None,
    transparent: bool = False,
) -> bytes:
    image = draw_image(prompt, width, height, index, references, transparent=transparent)
    return encode_image(image, output_format, compression)


def coarse(image: Image.Image, step: int, steps: int) -> Image.Image:
    """Partial image `step` of `steps`: the final picture seen through a coarser grid, finer each step."""
    factor = 2 ** (steps - step + 2)  # 3 partials: 1/32, 1/16, 1/8 of the resolution
    small = image.resize((max(1, image.width // factor), max(1, image.height // factor)), Image.Resampling.BOX)
    return small.resize(image.size, Image.Resampling.NEAREST)


def _computed(work: Callable[[], T]) -> T:
    with fair_share.reclaimed():
        return off_loop(work)


class LocalProvider(ImageProvider):
    """Draws in this process: in real threads (gih/offload.py), so a big render never stalls the event loop,
    and holding the request's fair-share place (gih/fair_share.py), so one client's renders (free with test
    keys) cannot crowd out the others. The simulated delay holds neither."""

    name = "local"
    streams = True

    def generate(self, request: ProviderRequest, *, on_partial: PartialCallback | None = None) -> ProviderResult:
        width, height = _parse_size(request.size)
        output_format = request.output_format or "png"
        transparent = request.background == "transparent"
        references = [reference.content for reference in request.reference_images]
        partials = request.partial_images if on_partial is not None else 0
        # The configured delay is spread over the partials and the final image, as a real stream would.
        pause = settings.LOCAL_PROVIDER_DELAY_SECONDS / (partials + 1)
        pictures = _computed(
            lambda: [
                draw_image(request.prompt, width, height, index, references, transparent=transparent)
                for index in range(request.n)
            ]
        )
        for step in range(partials):
            if pause > 0:
                time.sleep(pause)
            partial = _computed(
                lambda step=step: encode_image(
                    coarse(pictures[0], step, partials), output_format, request.output_compression
                )
            )
            on_partial(PartialImage(content=partial, partial_image_index=step))
        if pause > 0:
            time.sleep(pause)
        quality = request.quality if request.quality in usage.OUTPUT_TOKENS_AT_1024 else AUTO_QUALITY
        images = _computed(
            lambda: [encode_image(picture, output_format, request.output_compression) for picture in pictures]
        )
        return ProviderResult(
            images=images,
            provider_request_id=f"local-{time.time_ns()}",
            usage=usage.estimate(
                prompt=request.prompt, references=references, width=width, height=height, quality=quality, n=request.n
            ),
            size=f"{width}x{height}",
            quality=quality,
            background="transparent" if transparent else "opaque",
            output_format=output_format,
        )
