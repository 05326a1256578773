"""The OpenAI stand-in's Images API answers: parameters checked as OpenAI does, images encoded as asked,
JSON bodies and SSE streams in OpenAI's shapes.

Kept apart from the server (testsupport/openai_standin.py) so each reads on its own:
this module knows what an images request means and what OpenAI sends back.
"""

import base64
import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from PIL import Image, ImageChops

from generations.providers import usage
from generations.providers.local import coarse, draw_image, encode_image, render_image
from gih.sse import encode_event

MAX_SIDE = 4096
_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})$")
FORMATS = ("png", "jpeg", "webp")
BACKGROUNDS = ("auto", "opaque", "transparent")
QUALITIES = ("auto", "low", "medium", "high")


class Answer(Exception):
    """Raised inside the app to answer at once with an OpenAI-shaped error."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ):
        self.status, self.message, self.kind, self.code, self.param = status, message, kind, code, param
        self.headers = headers or []
        super().__init__(message)

    def error(self) -> dict:
        return {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}


def error_body(answer: Answer) -> bytes:
    return json.dumps({"error": answer.error()}).encode()


# --- Parameters ------------------------------------------------------------


@dataclass(frozen=True)
class ImageParams:
    """An images request as OpenAI would run it: every `auto` resolved."""

    prompt: str
    n: int
    width: int
    height: int
    quality: str
    background: str  # opaque or transparent
    output_format: str
    compression: int | None
    stream: bool
    partial_images: int
    edit: bool
    references: tuple[bytes, ...] = ()

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


def parse_size(size: str) -> tuple[int, int]:
    if size == "auto":
        return 1024, 1024
    match = _SIZE.match(size)
    if not match or not all(16 <= int(side) <= MAX_SIDE for side in match.groups()):
        raise Answer(400, f"Invalid size '{size}'. Use auto or WxH with sides from 16 to {MAX_SIDE}.", param="size")
    return int(match[1]), int(match[2])


def _choice(params: dict, name: str, choices: tuple[str, ...], default: str) -> str:
    value = params.get(name)
    if value is None:
        return default
    if value not in choices:
        raise Answer(
            400,
            f"Invalid value: '{value}'. Supported values are: {', '.join(choices)}.",
            param=name,
            code="invalid_value",
        )
    return value


def _integer(params: dict, name: str, low: int, high: int, default: int | None) -> int | None:
    value = params.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Answer(400, f"Invalid '{name}': expected an integer.", param=name, code="invalid_type") from None
    if not low <= number <= high:
        raise Answer(
            400, f"Invalid '{name}': {number} is not between {low} and {high}.", param=name, code="integer_out_of_range"
        )
    return number


def _flag(params: dict, name: str) -> bool:
    value = params.get(name, False)
    return value is True or value in ("true", "True", "1")


def _check_uploads(images: list[bytes], mask: bytes | None) -> None:
    if not images:
        raise Answer(400, "Missing required parameter: 'image'.", param="image", code="missing_required_parameter")
    sizes = []
    for position, content in enumerate(images):
        try:
            with Image.open(io.BytesIO(content)) as image:
                sizes.append(image.size)
                image.verify()
        except Exception:
            raise Answer(
                400, f"Invalid image file for image[{position}].", param="image", code="invalid_image_file"
            ) from None
    if mask is not None:
        try:
            with Image.open(io.BytesIO(mask)) as image:
                mask_format, mask_size = image.format, image.size
        except Exception:
            mask_format, mask_size = None, None
        if mask_format != "PNG":
            raise Answer(400, "Invalid mask: it must be a PNG file.", param="mask", code="invalid_image_format")
        if mask_size != sizes[0]:
            raise Answer(
                400,
                "Invalid mask: it must have the same dimensions as the image.",
                param="mask",
                code="invalid_image_dimensions",
            )


def parse_params(params: dict, *, edit_images: list[bytes] | None, mask: bytes | None = None) -> ImageParams:
    prompt = params.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise Answer(400, "Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter")
    if params.get("model") is None:
        raise Answer(400, "Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
    if "response_format" in params:
        raise Answer(400, "Unknown parameter: 'response_format'.", param="response_format", code="unknown_parameter")
    if edit_images is not None:
        _check_uploads(edit_images, mask)
        _choice(params, "input_fidelity", ("high", "low"), "low")
    n = _integer(params, "n", 1, 10, 1)
    width, height = parse_size(str(params.get("size", "auto")))
    quality = _choice(params, "quality", QUALITIES, "auto")
    background = _choice(params, "background", BACKGROUNDS, "auto")
    output_format = _choice(params, "output_format", FORMATS, "png")
    _choice(params, "moderation", ("auto", "low"), "auto")
    compression = _integer(params, "output_compression", 0, 100, None)
    if compression is not None and output_format == "png":
        raise Answer(400, "output_compression is only supported for jpeg and webp.", param="output_compression")
    if background == "transparent" and output_format == "jpeg":
        raise Answer(400, "Transparent background is not supported for jpeg.", param="background")
    stream = _flag(params, "stream")
    return ImageParams(
        prompt=prompt,
        n=n,
        width=width,
        height=height,
        quality="high" if quality == "auto" else quality,
        background="transparent" if background == "transparent" else "opaque",
        output_format=output_format,
        compression=compression,
        stream=stream,
        partial_images=_integer(params, "partial_images", 0, 3, 0) if stream else 0,
        edit=edit_images is not None,
        references=tuple(edit_images or ()),
    )


def token_usage(params: ImageParams, count: int) -> dict:
    return usage.estimate(
        prompt=params.prompt,
        references=list(params.references),
        width=params.width,
        height=params.height,
        quality=params.quality,
        n=count,
    ).as_openai()


# --- Images ----------------------------------------------------------------


@dataclass(frozen=True)
class CachedImage:
    content: bytes
    entry: bytes  # the JSON of its `data` entry, `{"b64_json": "..."}`, encoded once


_cache: dict[tuple, CachedImage] = {}
_cache_lock = threading.Lock()


def _photo_like(width: int, height: int) -> bytes:
    """Grainy noise over the renderer's gradient: compresses like a photo (~1.6 MB at 1024x1024)."""
    base = Image.open(io.BytesIO(render_image("stand-in photo", width, height))).convert("RGB")
    grain_size = (max(1, width // 2), max(1, height // 2))
    grain = Image.merge("RGB", [Image.effect_noise(grain_size, 8) for _ in range(3)]).resize(
        (width, height), Image.Resampling.BILINEAR
    )
    output = io.BytesIO()
    ImageChops.add(base, grain, scale=1.0, offset=-128).save(output, format="PNG", compress_level=1)
    return output.getvalue()


def cached_image(
    width: int,
    height: int,
    photo: bool,
    output_format: str = "png",
    compression: int | None = None,
    transparent: bool = False,
) -> CachedImage:
    key = (width, height, photo, output_format, compression, transparent)
    with _cache_lock:
        if key not in _cache:
            if photo and (output_format, transparent) == ("png", False):
                content = _photo_like(width, height)
            else:
                content = render_image(
                    "stand-in",
                    width,
                    height,
                    output_format=output_format,
                    compression=compression,
                    transparent=transparent,
                )
            entry = b'{"b64_json": "' + base64.b64encode(content) + b'"}'
            _cache[key] = CachedImage(content=content, entry=entry)
        return _cache[key]


def image_for(params: ImageParams, photo: bool) -> CachedImage:
    return cached_image(
        params.width, params.height, photo, params.output_format, params.compression, params.background == "transparent"
    )


def meta(params: ImageParams, count: int, usage: dict | None = None) -> dict:
    return {
        "created": int(time.time()),
        "background": params.background,
        "output_format": params.output_format,
        "quality": params.quality,
        "size": params.size,
        "usage": usage if usage is not None else token_usage(params, count),
    }


# --- Streams -----------------------------------------------------------------


def stream(
    params: ImageParams, *, count: int, photo: bool, failure: str, sleep: Callable[[float], object], pause: float
) -> Iterator[bytes]:
    """OpenAI's image stream: partial images, then one completed event per image (or an error event).

    `failure`: "" (none), "error" (a server error event after the partials), "moderation" (a
    content-policy error event after the partials) or "truncated" (the stream ends early).
    """
    prefix = "image_edit" if params.edit else "image_generation"
    shared = {
        "background": params.background,
        "output_format": params.output_format,
        "quality": params.quality,
        "size": params.size,
    }
    transparent = params.background == "transparent"
    picture = draw_image("stand-in", params.width, params.height, transparent=transparent)
    for step in range(params.partial_images):
        sleep(pause)
        partial = encode_image(coarse(picture, step, params.partial_images), params.output_format, params.compression)
        yield encode_event(
            f"{prefix}.partial_image",
            {
                "type": f"{prefix}.partial_image",
                "b64_json": base64.b64encode(partial).decode(),
                "created_at": int(time.time()),
                "partial_image_index": step,
                **shared,
            },
        )
    sleep(pause)
    if failure == "truncated":
        return
    if failure:
        answer = (
            Answer(
                400,
                "Your request was rejected by the safety system.",
                kind="image_generation_user_error",
                code="moderation_blocked",
            )
            if failure == "moderation"
            else Answer(500, "The server had an error while processing your request.", kind="server_error")
        )
        yield encode_event("error", {"type": "error", "error": answer.error()})
        return
    b64 = base64.b64encode(image_for(params, photo).content).decode()
    for _ in range(count):
        yield encode_event(
            f"{prefix}.completed",
            {
                "type": f"{prefix}.completed",
                "b64_json": b64,
                "created_at": int(time.time()),
                "usage": token_usage(params, 1),
                **shared,
            },
        )
