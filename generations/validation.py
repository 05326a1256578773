"""Request validation: a client's body and files → a priced GenerationSpec, or InvalidRequest naming the field.

Nothing here writes: a spec is what every face (JSON, multipart) hands to submit.
"""

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from rest_framework import serializers

from generations import pricing
from generations.catalogue import catalogue
from generations.images import NotAnImage, inspect_image
from generations.models import ImageModel
from generations.providers import ReferenceImageData
from gih.errors import InvalidRequest, validation_message

REFERENCE_FIELDS = ("reference_image", "reference_image[]", "reference_images", "image", "image[]")
MAX_IDEMPOTENCY_KEY_LENGTH = 255


@dataclass(frozen=True)
class GenerationSpec:
    """A validated, priced request."""

    model: ImageModel
    prompt: str
    n: int
    resolution: pricing.Resolution
    credits_per_image: int
    is_async: bool
    reference_images: list[ReferenceImageData] = field(default_factory=list)

    @property
    def credits(self) -> int:
        return self.n * self.credits_per_image

    def fingerprint(self) -> str:
        """Identifies the request body, for Idempotency-Key replays."""
        body = {
            "model": self.model.id,
            "prompt": self.prompt,
            "n": self.n,
            "aspect_ratio": self.resolution.aspect_ratio,
            "quality": self.resolution.quality,
            "size": self.resolution.size,
            "async": self.is_async,
            "references": [hashlib.sha256(reference.content).hexdigest() for reference in self.reference_images],
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class GenerationRequestSerializer(serializers.Serializer):
    """Field-level checks of a generation request; cross-field rules live in generations.pricing."""

    model = serializers.CharField(max_length=64)
    prompt = serializers.CharField(max_length=settings.MAX_PROMPT_LENGTH)
    n = serializers.IntegerField(min_value=1, max_value=4, default=1)
    aspect_ratio = serializers.CharField(max_length=10, required=False, allow_null=True, allow_blank=True)
    size = serializers.CharField(max_length=20, required=False, allow_null=True, allow_blank=True)
    quality = serializers.CharField(max_length=10, required=False, allow_null=True, allow_blank=True)

    def get_fields(self):
        fields = super().get_fields()
        fields["async"] = serializers.BooleanField(default=False, source="async_")  # `async` is a keyword
        return fields

    def validate(self, attrs):
        for name in ("aspect_ratio", "size", "quality"):
            if not attrs.get(name):  # "" from a multipart form means "not given"
                attrs.pop(name, None)
        return attrs


def idempotency_key_validate(idempotency_key: str | None) -> None:
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidRequest(f"Idempotency-Key: must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters.")


def _read_reference_images(model: ImageModel, files: Sequence) -> list[ReferenceImageData]:
    if len(files) > model.reference_image_limit:
        raise InvalidRequest(
            f"reference_image: at most {model.reference_image_limit} reference images are allowed, got {len(files)}."
        )
    references = []
    for position, upload in enumerate(files, start=1):
        if upload.size > settings.MAX_REFERENCE_IMAGE_BYTES:
            raise InvalidRequest(
                f"reference_image: file {position} ({upload.name}) is larger than "
                f"{settings.MAX_REFERENCE_IMAGE_BYTES // (1024 * 1024)} MB."
            )
        content = upload.read()
        try:
            info = inspect_image(content, max_pixels=settings.MAX_REFERENCE_IMAGE_PIXELS, decode=False)
        except NotAnImage as error:
            raise InvalidRequest(f"reference_image: file {position} ({upload.name}): {error}.") from None
        references.append(
            ReferenceImageData(
                content=content, content_type=info.content_type, filename=f"reference-{position}.{info.extension}"
            )
        )
    return references


def generation_spec_build(*, data: Mapping, files: Sequence = ()) -> GenerationSpec:
    """Validate a request body (JSON or multipart) into a priced spec; raises InvalidRequest naming the field."""
    if not isinstance(data, Mapping):
        raise InvalidRequest("The request body must be a JSON object.")
    if any(name in data for name in REFERENCE_FIELDS):
        raise InvalidRequest("reference_image: send reference images as multipart/form-data file parts.")
    serializer = GenerationRequestSerializer(data=data)
    if not serializer.is_valid():
        raise InvalidRequest(validation_message(serializer.errors))
    values = serializer.validated_data
    model = catalogue().enabled_model(values["model"])
    if model is None:
        raise InvalidRequest(f"model: {values['model']!r} is not an available model; see GET /api/v1/models.")
    resolution = pricing.resolve(
        model, aspect_ratio=values.get("aspect_ratio"), size=values.get("size"), quality=values.get("quality")
    )
    return GenerationSpec(
        model=model,
        prompt=values["prompt"],
        n=values["n"],
        resolution=resolution,
        credits_per_image=pricing.credits_per_image(model, resolution),
        is_async=values["async_"],
        reference_images=_read_reference_images(model, files),
    )
