"""Honest token estimates for providers that do not count tokens themselves (the local renderer).

The figures follow OpenAI's published accounting for GPT image models: output tokens
grow with the pixel count from a per-quality base at 1024x1024 (low 272, medium 1056,
high 4160), input images cost a base plus a fixed amount per 512-pixel tile, and text
costs about one token per four characters.
"""

import io
import math

from PIL import Image

from generations.providers.base import TokenUsage

OUTPUT_TOKENS_AT_1024 = {"low": 272, "medium": 1056, "high": 4160}
IMAGE_BASE_TOKENS = 65
IMAGE_TILE_TOKENS = 129


def output_tokens(width: int, height: int, quality: str) -> int:
    per_image = OUTPUT_TOKENS_AT_1024.get(quality, OUTPUT_TOKENS_AT_1024["high"])
    return math.ceil(per_image * width * height / (1024 * 1024))


def text_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def image_tokens(content: bytes) -> int:
    """Tokens of one input image: fit in 2048x2048, shortest side to 768, then count 512-pixel tiles."""
    with Image.open(io.BytesIO(content)) as image:
        width, height = image.size
    scale = min(1.0, 2048 / max(width, height))
    width, height = width * scale, height * scale
    scale = 768 / min(width, height)
    width, height = width * scale, height * scale
    return IMAGE_BASE_TOKENS + IMAGE_TILE_TOKENS * math.ceil(width / 512) * math.ceil(height / 512)


def estimate(*, prompt: str, references: list[bytes], width: int, height: int, quality: str, n: int) -> TokenUsage:
    return TokenUsage(
        input_text_tokens=text_tokens(prompt),
        input_image_tokens=sum(image_tokens(reference) for reference in references),
        output_tokens=n * output_tokens(width, height, quality),
    )
