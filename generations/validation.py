"""Request validation: a client's body and files → a priced GenerationSpec, or InvalidRequest naming the field.

Nothing here writes: a spec is what every face (JSON, multipart) hands to submit.
"""

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

from django.conf import settings
from rest_framework import serializers

from generations import pricing
from generations.catalogue import catalogue
from generations.images import NotAnImage, inspect_image
from generations.models import Generation, ImageModel
from generations.providers import OUTPUT_FORMATS, ReferenceImageData
from gih.errors import InvalidRequest, validation_message

REFERENCE_FIELDS = ("reference_image", "reference_image[]", "reference_images", "image", "image[]")
MASK_FIELD = "mask"
MAX_IDEMPOTENCY_KEY_LENGTH = 255
# Parameters of OpenAI's Images API the hub does not implement: named in a 400, never silently ignored.
UNSUPPORTED_OPENAI_PARAMETERS = ("style", "svg", "markup", "complexity", "frame_count", "frame_duration_ms")
# Everything the OpenAI face accepts (it refuses any other field, as OpenAI does).
OPENAI_PARAMETERS = frozenset(
    {
        "model",
        "prompt",
        "n",
        "size",
        "quality",
        "response_format",
        "output_format",
        "output_compression",
        "background",
        "moderation",
        "user",
        "safety_identifier",
        "stream",
        "partial_images",
        "input_fidelity",
    }
)
OPTIONAL_FIELDS = frozenset(
    {"aspect_ratio", "size", "quality", "response_format", "user", "safety_identifier", *OPENAI_PARAMETERS}
) - {"model", "prompt", "n"}
# The options handed to the provider as they were asked (absent: the provider's default).
PROVIDER_OPTIONS = ("output_format", "output_compression", "background", "moderation", "input_fidelity")


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
    face: str = Generation.Face.API
    options: dict = field(default_factory=dict)  # PROVIDER_OPTIONS that were given, plus `user`
    mask: ReferenceImageData | None = None
    stream: bool = False
    partial_images: int = 0
    response_format: str = "url"

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
            "face": self.face,
            "options": self.options,
            "mask": hashlib.sha256(self.mask.content).hexdigest() if self.mask else None,
            "stream": [self.stream, self.partial_images],
            "response_format": self.response_format,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@cache
def _unbound_fields(serializer_class) -> dict:
    """The serializer's fields, built from their declarations once per process and never bound."""
    fields = {
        name: type(field)(*field._args, **field._kwargs) for name, field in serializer_class._declared_fields.items()
    }
    fields["async"] = serializers.BooleanField(default=False, source="async_")  # `async` is a keyword
    return fields


class GenerationRequestSerializer(serializers.Serializer):
    """Field-level checks of a generation request; cross-field rules live in generations.pricing."""

    model = serializers.CharField(max_length=64)
    prompt = serializers.CharField(max_length=settings.MAX_PROMPT_LENGTH)
    n = serializers.IntegerField(min_value=1, max_value=4, default=1)
    aspect_ratio = serializers.CharField(max_length=10, required=False, allow_null=True, allow_blank=True)
    size = serializers.CharField(max_length=20, required=False, allow_null=True, allow_blank=True)
    quality = serializers.CharField(max_length=10, required=False, allow_null=True, allow_blank=True)
    # OpenAI's output options (both faces); absent means the provider's default.
    output_format = serializers.ChoiceField(choices=OUTPUT_FORMATS, required=False)
    output_compression = serializers.IntegerField(min_value=0, max_value=100, required=False)
    background = serializers.ChoiceField(choices=("auto", "opaque", "transparent"), required=False)
    moderation = serializers.ChoiceField(choices=("auto", "low"), required=False)
    input_fidelity = serializers.ChoiceField(choices=("high", "low"), required=False)
    user = serializers.CharField(max_length=256, required=False)
    safety_identifier = serializers.CharField(max_length=256, required=False)
    response_format = serializers.ChoiceField(choices=("url", "b64_json"), required=False)
    stream = serializers.BooleanField(default=False)
    partial_images = serializers.IntegerField(min_value=0, max_value=3, default=0)

    def get_fields(self):
        # Each instance gets fields of its own, as DRF's deep copy gives it (Field.__deepcopy__), but as shallow
        # copies of unbound fields built once per process: DRF builds each field anew from its constructor
        # arguments (validators, error messages gathered over the class tree), ~4 % of a generation's web CPU
        # (bench/RESULTS.md). What the copies share is never changed after construction (their arguments,
        # validators, error messages, choices); binding (bind()) sets the copy's own attributes.
        return {name: copy.copy(field) for name, field in _unbound_fields(type(self)).items()}

    def to_internal_value(self, data):
        # "" from a multipart form means "not given" for the optional choices.
        data = {key: value for key, value in data.items() if key not in OPTIONAL_FIELDS or value not in ("", None)}
        return super().to_internal_value(data)

    def validate(self, attrs):
        output_format = attrs.get("output_format", "png")
        if "output_compression" in attrs and output_format == "png":
            raise serializers.ValidationError({"output_compression": "only for output_format jpeg or webp."})
        if attrs.get("background") == "transparent" and output_format == "jpeg":
            raise serializers.ValidationError({"background": "transparent needs output_format png or webp."})
        if attrs["stream"] and attrs["async_"]:
            raise serializers.ValidationError({"stream": "cannot be combined with async."})
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


def _read_mask(upload, references: list[ReferenceImageData]) -> ReferenceImageData:
    """OpenAI's rule: a PNG (its transparent pixels mark what to edit) of the first image's size."""
    if not references:
        raise InvalidRequest("mask: a mask needs an image to edit.", param="mask")
    content = upload.read()
    try:
        info = inspect_image(content, max_pixels=settings.MAX_REFERENCE_IMAGE_PIXELS, decode=False)
    except NotAnImage as error:
        raise InvalidRequest(f"mask: {error}.", param="mask") from None
    first = inspect_image(references[0].content, max_pixels=settings.MAX_REFERENCE_IMAGE_PIXELS, decode=False)
    if info.content_type != "image/png":
        raise InvalidRequest("mask: must be a PNG file.", param="mask")
    if (info.width, info.height) != (first.width, first.height):
        raise InvalidRequest(
            f"mask: must be the size of the first image ({first.width}x{first.height}), "
            f"not {info.width}x{info.height}.",
            param="mask",
        )
    return ReferenceImageData(content=content, content_type=info.content_type, filename="mask.png")


def _check_parameters(data: Mapping, face: str) -> None:
    for name in data:
        if name in UNSUPPORTED_OPENAI_PARAMETERS:
            raise InvalidRequest(f"{name}: this OpenAI parameter is not supported.", param=name)
    if face == Generation.Face.OPENAI:
        for name in data:
            if name not in OPENAI_PARAMETERS:
                raise InvalidRequest(f"{name}: unknown parameter.", param=name)


def generation_spec_build(
    *,
    data: Mapping,
    files: Sequence = (),
    mask=None,
    face: str = Generation.Face.API,
    edit: bool = False,
) -> GenerationSpec:
    """Validate a request body (JSON or multipart) into a priced spec; raises InvalidRequest naming the field.

    `face` is the API the request came through: the OpenAI face accepts OpenAI's parameters
    only and answers b64_json by default; `edit` says the endpoint needs an image.
    """
    if not isinstance(data, Mapping):
        raise InvalidRequest("The request body must be a JSON object.")
    if any(name in data for name in REFERENCE_FIELDS):
        raise InvalidRequest("reference_image: send reference images as multipart/form-data file parts.")
    if MASK_FIELD in data:
        raise InvalidRequest("mask: send the mask as a multipart/form-data file part.", param="mask")
    _check_parameters(data, face)
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
    references = _read_reference_images(model, files)
    if edit and not references:
        raise InvalidRequest("image: an edit needs at least one image file part.", param="image")
    if "input_fidelity" in values and not references:
        raise InvalidRequest("input_fidelity: only for edits (send an image).", param="input_fidelity")
    options = {name: values[name] for name in PROVIDER_OPTIONS if name in values}
    user = values.get("safety_identifier") or values.get("user")
    if user:
        options["user"] = user
    default_format = "b64_json" if face == Generation.Face.OPENAI else "url"
    return GenerationSpec(
        model=model,
        prompt=values["prompt"],
        n=values["n"],
        resolution=resolution,
        credits_per_image=pricing.credits_per_image(model, resolution),
        is_async=values["async_"],
        reference_images=references,
        face=face,
        options=options,
        mask=_read_mask(mask, references) if mask is not None else None,
        stream=values["stream"],
        partial_images=values["partial_images"],
        response_format=values.get("response_format", default_format),
    )
