"""Images are recognised and checked by their bytes, with or without decoding every pixel."""

import io

import pytest
from PIL import Image

from generations.images import NotAnImage, inspect_image


def _encoded(image_format: str, size=(256, 192)) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise(size, 64).convert("RGB").save(buffer, format=image_format)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("image_format", "content_type"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]
)
@pytest.mark.parametrize("decode", [True, False])
def test_it_recognises_each_supported_format_by_content(image_format, content_type, decode):
    info = inspect_image(_encoded(image_format), max_pixels=10**6, decode=decode)

    assert (info.content_type, info.width, info.height) == (content_type, 256, 192)


@pytest.mark.parametrize("decode", [True, False])
def test_it_rejects_a_truncated_png(decode):
    content = _encoded("PNG")

    with pytest.raises(NotAnImage):
        inspect_image(content[: len(content) - 40], max_pixels=10**6, decode=decode)


@pytest.mark.parametrize("decode", [True, False])
def test_it_rejects_a_png_with_a_corrupted_chunk(decode):
    content = bytearray(_encoded("PNG"))
    content[len(content) // 2] ^= 0xFF

    with pytest.raises(NotAnImage):
        inspect_image(bytes(content), max_pixels=10**6, decode=decode)


def test_it_rejects_a_gif_and_plain_bytes():
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="GIF")

    for content in (buffer.getvalue(), b"definitely not an image"):
        with pytest.raises(NotAnImage):
            inspect_image(content, max_pixels=10**6)


def test_it_refuses_too_many_pixels_before_decoding():
    with pytest.raises(NotAnImage, match="more than"):
        inspect_image(_encoded("PNG", size=(400, 400)), max_pixels=100_000, decode=False)
