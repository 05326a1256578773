"""The one interface every image provider implements.

A provider turns a ProviderRequest into encoded image bytes, or raises
ProviderError. It must not touch the database: the generation service calls it
with no transaction open and no connection held.

A streaming caller passes `on_partial`: the provider then hands over each partial
image as it arrives (from its own upstream stream, or rendered), before it returns
the final result. Options left at None mean "the provider's default", so an adapter
sends only what the client asked for.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

OUTPUT_FORMATS = ("png", "jpeg", "webp")
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


@dataclass(frozen=True)
class ReferenceImageData:
    content: bytes
    content_type: str  # image/png, image/jpeg or image/webp (sniffed from the bytes)
    filename: str


@dataclass(frozen=True)
class ProviderRequest:
    provider_model: str
    prompt: str
    n: int
    size: str  # "WxH" or "auto"
    quality: str  # auto, low, medium or high
    reference_images: list[ReferenceImageData] = field(default_factory=list)
    timeout_seconds: float = 800.0
    user_ref: str = ""  # an opaque end-user id, for the provider's abuse monitoring
    output_format: str | None = None  # png, jpeg or webp
    output_compression: int | None = None  # 0-100, jpeg and webp only
    background: str | None = None  # auto, opaque or transparent
    moderation: str | None = None  # auto or low
    mask: ReferenceImageData | None = None  # edits: a PNG whose transparent pixels mark what to change
    input_fidelity: str | None = None  # edits: high or low
    partial_images: int = 0  # 0-3, partial images wanted while streaming


@dataclass(frozen=True)
class TokenUsage:
    """OpenAI's token accounting of one request (all its images together)."""

    input_text_tokens: int = 0
    input_image_tokens: int = 0
    output_tokens: int = 0

    @property
    def input_tokens(self) -> int:
        return self.input_text_tokens + self.input_image_tokens

    def as_openai(self) -> dict:
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"text_tokens": self.input_text_tokens, "image_tokens": self.input_image_tokens},
            "output_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
        }

    @classmethod
    def from_openai(cls, usage: object) -> "TokenUsage | None":
        """Parse OpenAI's `usage` object; None when absent or not in that shape."""
        if not isinstance(usage, dict):
            return None
        details = usage.get("input_tokens_details") if isinstance(usage.get("input_tokens_details"), dict) else {}
        try:
            input_tokens = int(usage.get("input_tokens") or 0)
            image_tokens = int(details.get("image_tokens") or 0)
            text_tokens = int(details.get("text_tokens", input_tokens - image_tokens) or 0)
            return cls(
                input_text_tokens=text_tokens,
                input_image_tokens=image_tokens,
                output_tokens=int(usage.get("output_tokens") or 0),
            )
        except (TypeError, ValueError):
            return None

    def __add__(self, other: "TokenUsage") -> "TokenUsage":
        return TokenUsage(
            self.input_text_tokens + other.input_text_tokens,
            self.input_image_tokens + other.input_image_tokens,
            self.output_tokens + other.output_tokens,
        )


@dataclass(frozen=True)
class PartialImage:
    """One partial image of a streamed generation, encoded in the requested output format."""

    content: bytes
    partial_image_index: int  # 0-based, in the order the provider sent them


@dataclass(frozen=True)
class ProviderResult:
    images: list[bytes]  # encoded image files as the provider sent them
    provider_request_id: str = ""
    usage: TokenUsage | None = None  # None when the provider did not report it
    # What the provider actually used ("" when it did not say): never "auto" when known.
    size: str = ""
    quality: str = ""
    background: str = ""
    output_format: str = ""


class ProviderError(Exception):
    """A failed provider call. `code` is stored on the generation; `message` is for staff only.

    `permanent` tells whether retrying the same request could succeed (False for
    timeouts, 429 and 5xx).
    """

    def __init__(self, message: str, *, code: str, permanent: bool):
        self.message = message
        self.code = code
        self.permanent = permanent
        super().__init__(message)


PartialCallback = Callable[[PartialImage], None]


class ImageProvider(ABC):
    name: str
    streams: bool = False  # relays partial images to `on_partial` while it generates

    @abstractmethod
    def generate(self, request: ProviderRequest, *, on_partial: PartialCallback | None = None) -> ProviderResult:
        """Generate `request.n` images (a provider may return fewer).

        With `on_partial`, stream: call it for each partial image (at most
        `request.partial_images`) as it becomes available, then return the result.
        """
