"""Test helpers for generations: image bytes in every format we accept (and some we refuse)."""

import io
import os
import struct
import zlib

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from accounts.services import api_key_create

GENERATIONS_URL = "/api/v1/images/generations"
EDITS_URL = "/api/v1/images/edits"
# A colour the local renderer's gradients practically never produce exactly.
REFERENCE_COLOUR = (255, 0, 255)


def image_bytes(image_format: str = "PNG", size: tuple[int, int] = (64, 64), colour=REFERENCE_COLOUR) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=image_format)
    return buffer.getvalue()


def noise_png(size: tuple[int, int] = (64, 64)) -> bytes:
    """A PNG that does not compress: its byte size is close to width * height * 3."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(buffer, format="PNG")
    return buffer.getvalue()


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG whose header claims width x height: a decompression bomb's calling card."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


def api_client_for(user) -> APIClient:
    """An API client authenticated with a fresh key of `user`."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=user).raw_key}")
    return client


def upload(name: str, content: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def decoded(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content))
    image.load()
    return image


def shows_reference_inset(content: bytes, colour=REFERENCE_COLOUR, tolerance: int = 6) -> bool:
    """Whether the local renderer pasted a reference image of `colour` into its bottom-left inset.

    The inset is a quarter of each edge, a small margin from the bottom-left corner; the
    renderer's circle may cross it, so most (not all) of its pixels carry the colour
    (within `tolerance` per channel, for JPEG references).
    """
    image = decoded(content).convert("RGB")
    width, height = image.size
    margin = max(8, width // 64)
    box = (margin, height - margin - height // 4, margin + width // 4, height - margin)
    inset = image.crop(box)
    area = inset.width * inset.height
    close = sum(
        count
        for count, pixel in inset.getcolors(maxcolors=area)
        if all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))
    )
    return close > 0.6 * area
