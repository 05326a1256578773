"""The embedded renderer: real PNGs drawn with Pillow, no server needed.

Used by the demo and whenever IMAGE_PROVIDER=local. Each image is derived from
the prompt (its colours come from the prompt's hash, its text is drawn on it)
and from the reference images (shown as an inset), at the requested size.
"""

import hashlib
import io
import textwrap
import time

from django.conf import settings
from PIL import Image, ImageDraw, ImageFont, ImageOps

from generations.providers.base import ImageProvider, ProviderRequest, ProviderResult

AUTO_SIZE = (1024, 1024)


def _parse_size(size: str) -> tuple[int, int]:
    if size == "auto":
        return AUTO_SIZE
    width, height = size.lower().split("x")
    return int(width), int(height)


def _colour(seed: bytes, offset: int) -> tuple[int, int, int]:
    return seed[offset], seed[offset + 1], seed[offset + 2]


def render_image(prompt: str, width: int, height: int, index: int = 0, references: list[bytes] = ()) -> bytes:
    seed = hashlib.sha256(f"{prompt}\x00{index}".encode()).digest()
    top, bottom = _colour(seed, 0), _colour(seed, 3)
    # A vertical gradient drawn on a 1-pixel-wide strip, then stretched: fast at 4K.
    strip = Image.new("RGB", (1, 256))
    for y in range(256):
        t = y / 255
        strip.putpixel((0, y), tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    image = strip.resize((width, height))
    draw = ImageDraw.Draw(image)
    accent = _colour(seed, 6)
    radius = min(width, height) // 4
    cx, cy = width * (0.25 + seed[9] / 510), height * (0.25 + seed[10] / 510)
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), outline=accent, width=max(2, radius // 12))

    for position, reference in enumerate(references[:4]):
        with Image.open(io.BytesIO(reference)) as ref:
            inset = ImageOps.contain(ref.convert("RGB"), (width // 4, height // 4))
        margin = max(8, width // 64)
        image.paste(inset, (margin + position * (width // 4 + margin), height - inset.height - margin))

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

    output = io.BytesIO()
    image.save(output, format="PNG", compress_level=1)
    return output.getvalue()


class LocalProvider(ImageProvider):
    name = "local"

    def generate(self, request: ProviderRequest) -> ProviderResult:
        delay = settings.LOCAL_PROVIDER_DELAY_SECONDS
        if delay > 0:
            time.sleep(delay)
        width, height = _parse_size(request.size)
        references = [reference.content for reference in request.reference_images]
        images = [render_image(request.prompt, width, height, index, references) for index in range(request.n)]
        return ProviderResult(images=images, provider_request_id=f"local-{time.time_ns()}")
