"""The one interface every image provider implements.

A provider turns a ProviderRequest into encoded image bytes, or raises
ProviderError. It must not touch the database: the generation service calls it
with no transaction open and no connection held.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field


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


@dataclass(frozen=True)
class ProviderResult:
    images: list[bytes]  # encoded image files as the provider sent them
    provider_request_id: str = ""


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


class ImageProvider(ABC):
    name: str

    @abstractmethod
    def generate(self, request: ProviderRequest) -> ProviderResult:
        """Generate `request.n` images (a provider may return fewer)."""
