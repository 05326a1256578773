"""Stored files of a generation: reference images kept for the worker, and verified outputs.

Keys are unguessable (knowing a URL is what grants access, as with S3 URLs). Nothing
here changes a generation's state; callers decide what a storage failure means.
"""

import logging
import secrets

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from generations.images import NotAnImage, inspect_image
from generations.models import GeneratedImage, Generation, ReferenceImage
from generations.providers import ReferenceImageData

logger = logging.getLogger(__name__)


def reference_images_store(
    *, generation: Generation, references: list[ReferenceImageData], mask: ReferenceImageData | None = None
) -> None:
    """Keep reference images (and an edit's mask) in storage so a worker can read them later; raises on failure."""
    inputs = [(reference, False) for reference in references] + ([(mask, True)] if mask is not None else [])
    rows = [
        ReferenceImage(
            generation=generation,
            position=position,
            content_type=reference.content_type,
            is_mask=is_mask,
            file=default_storage.save(
                f"references/{generation.pk}/{secrets.token_urlsafe(12)}-{reference.filename}",
                ContentFile(reference.content),
            ),
        )
        for position, (reference, is_mask) in enumerate(inputs)
    ]
    ReferenceImage.objects.bulk_create(rows)


def _input_load(reference: ReferenceImage) -> ReferenceImageData:
    with default_storage.open(reference.file.name, "rb") as handle:
        content = handle.read()
    return ReferenceImageData(
        content=content, content_type=reference.content_type, filename=reference.file.name.rsplit("/", 1)[-1]
    )


def reference_images_load(generation: Generation) -> list[ReferenceImageData]:
    """The stored reference images, in order (without the mask)."""
    return [_input_load(reference) for reference in generation.reference_images.all() if not reference.is_mask]


def mask_load(generation: Generation) -> ReferenceImageData | None:
    mask = next((reference for reference in generation.reference_images.all() if reference.is_mask), None)
    return _input_load(mask) if mask is not None else None


def output_load(image: GeneratedImage) -> bytes:
    """A stored output's bytes (for b64_json answers and stream events), from memory when this process stored it."""
    delivered = getattr(image, "delivered_bytes", None)
    if delivered is not None:
        return delivered
    with default_storage.open(image.file.name, "rb") as handle:
        return handle.read()


def outputs_store(*, generation: Generation, images: list[bytes]) -> list[GeneratedImage]:
    """Verify provider output and store each image; invalid ones are dropped. Rows are returned unsaved."""
    stored = []
    for index, content in enumerate(images[: generation.n]):
        try:
            # Structure and checksums are verified; pixels are not decoded (we store the bytes
            # as they came, and a full decode costs ~15 ms of CPU per image: bench/RESULTS.md).
            info = inspect_image(content, max_pixels=generation.model.max_pixels * 2, decode=False)
        except NotAnImage as error:
            logger.warning("Generation %s: provider image %s rejected: %s", generation.pk, index, error)
            continue
        name = default_storage.save(
            f"generations/{generation.pk}/{secrets.token_urlsafe(16)}.{info.extension}", ContentFile(content)
        )
        image = GeneratedImage(
            generation=generation,
            file=name,
            width=info.width,
            height=info.height,
            content_type=info.content_type,
            byte_size=len(content),
        )
        image.delivered_bytes = content  # what was just stored: a b64_json answer needs no download
        stored.append(image)
    return stored


def stored_delete(images: list[GeneratedImage]) -> None:
    """Best effort: an orphan object costs storage, not money."""
    for image in images:
        try:
            default_storage.delete(image.file.name)
        except Exception:
            logger.warning("Could not delete orphaned image %s", image.file.name)


def signed_url_lifetime() -> int | None:
    """Seconds a stored file's URL stays valid when the storage signs it (S3 query-string auth), else None."""
    storage = default_storage
    if not getattr(storage, "querystring_auth", False):
        return None
    if getattr(storage, "custom_domain", None) and not getattr(storage, "cloudfront_signer", None):
        return None  # a CDN domain without a signer: django-storages hands out plain, lasting URLs
    return int(storage.querystring_expire)
