"""Recognising images by their bytes: reference uploads in, provider output out.

The format comes from the content (Pillow's decoders), never from a file name or
a declared content type. Dimensions are checked from the header before any
pixel is decoded, so a decompression bomb is refused without being expanded.
"""

import io
import warnings
from dataclasses import dataclass

from PIL import Image

from gih.offload import off_loop

FORMATS = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg"), "WEBP": ("image/webp", "webp")}


class NotAnImage(ValueError):
    pass


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    extension: str
    width: int
    height: int


# A structure check of a body up to this size runs inline: ~0.7 ms of CPU for a 1.6 MB PNG, about what handing it
# to a real thread costs on top (0.6 ms, bench/RESULTS.md), and a short enough pause for the other greenlets.
INLINE_CHECK_MAX_BYTES = 4 * 1024 * 1024


def inspect_image(content: bytes, *, max_pixels: int, decode: bool = True) -> ImageInfo:
    """Identify a PNG, JPEG or WebP and check it; raise NotAnImage otherwise.

    decode=True also decodes every pixel (tens of ms for a photo-like megapixel PNG): always in a real thread
    under gevent, so it never stalls the other requests; so does a structure check of a larger body.
    """
    if not decode and len(content) <= INLINE_CHECK_MAX_BYTES:
        return _inspect(content, max_pixels=max_pixels, decode=False)
    return off_loop(_inspect, content, max_pixels=max_pixels, decode=decode)


def _inspect(content: bytes, *, max_pixels: int, decode: bool) -> ImageInfo:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content), formats=list(FORMATS)) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise NotAnImage(f"the image is {width}x{height}, more than {max_pixels} pixels")
                image_format = image.format
                image.verify()  # checks the stream structure without keeping the pixels
            if decode:
                with Image.open(io.BytesIO(content)) as image:
                    image.load()  # a truncated or corrupt body fails here
    except NotAnImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise NotAnImage("the image is too large to decode safely") from error
    except Exception as error:  # Pillow raises many types for garbage input
        raise NotAnImage("not a PNG, JPEG or WebP image") from error
    content_type, extension = FORMATS[image_format]
    return ImageInfo(content_type=content_type, extension=extension, width=width, height=height)
