"""Image retention: stored outputs and reference images are deleted after IMAGE_RETENTION_DAYS, or when the owner asks.

Only the files go. The rows stay, as the generation, its billing and its ledger do: each
gets `expired_at`, and the API shows the image as `"expired": true` with no URL. A row is
marked only after its file's delete succeeded, so files a storage outage kept are tried
again by the next sweep (deleting a missing object succeeds on S3 and on disk alike).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Model, QuerySet
from django.utils import timezone

from generations.models import GeneratedImage, Generation, ReferenceImage
from gih.errors import ApiError, NotFound, ServiceUnavailable

logger = logging.getLogger(__name__)

BATCH_SIZE = 500


class GenerationInProgress(ApiError):
    status_code = 409
    code = "generation_in_progress"
    default_message = "The generation is still running: its images can be deleted once it has finished."


@dataclass
class RetentionResult:
    outputs: int = 0
    references: int = 0
    failed: int = 0


def _files_delete(rows: list[Model], *, now: datetime) -> tuple[int, int]:
    """Delete the rows' files, then mark the rows whose file is gone; returns (deleted, failed)."""
    deleted = []
    for row in rows:
        try:
            default_storage.delete(row.file.name)
        except Exception:
            logger.warning("Could not delete stored image %s; the next sweep tries again", row.file.name)
            continue
        deleted.append(row.pk)
    if deleted:
        type(rows[0]).objects.filter(pk__in=deleted, expired_at__isnull=True).update(expired_at=now)
    return len(deleted), len(rows) - len(deleted)


def _sweep(rows: QuerySet, *, now: datetime, result: RetentionResult, field: str) -> None:
    """Walk the rows in primary-key order, a batch at a time (a failed file is passed, not retried in this run)."""
    last = None
    while True:
        batch = list((rows if last is None else rows.filter(pk__gt=last)).order_by("pk")[:BATCH_SIZE])
        if not batch:
            return
        deleted, failed = _files_delete(batch, now=now)
        setattr(result, field, getattr(result, field) + deleted)
        result.failed += failed
        last = batch[-1].pk


def images_expire_past_retention(*, now: datetime | None = None) -> RetentionResult:
    """Delete the stored outputs and reference images older than IMAGE_RETENTION_DAYS (0: keep forever)."""
    result = RetentionResult()
    if settings.IMAGE_RETENTION_DAYS <= 0:
        return result
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.IMAGE_RETENTION_DAYS)
    outputs = GeneratedImage.objects.filter(expired_at__isnull=True, created_at__lt=cutoff)
    _sweep(outputs, now=now, result=result, field="outputs")
    # A reference image is read by the worker until its generation ends: only finished ones go.
    references = ReferenceImage.objects.filter(
        expired_at__isnull=True, generation__created_at__lt=cutoff, generation__status__in=Generation.TERMINAL
    )
    _sweep(references, now=now, result=result, field="references")
    if result.outputs or result.references or result.failed:
        logger.info(
            "Retention: deleted %s output(s) and %s reference image(s) older than %s day(s); %s failed",
            result.outputs,
            result.references,
            settings.IMAGE_RETENTION_DAYS,
            result.failed,
        )
    return result


def generation_images_delete(*, user, generation_id: str) -> Generation:
    """Delete the owner's generation's stored images now; the generation and its billing stay.

    Only a finished generation: its images were written in the same transaction as the
    move to succeeded, so none can appear after this. Deleting again is a no-op.
    """
    generation = Generation.objects.filter(pk=generation_id, user=user).first()
    if generation is None:
        raise NotFound(f"No generation {generation_id!r} for this API key's account.")
    if not generation.is_terminal:
        raise GenerationInProgress()
    now = timezone.now()
    result = RetentionResult()
    _sweep(generation.images.filter(expired_at__isnull=True), now=now, result=result, field="outputs")
    _sweep(generation.reference_images.filter(expired_at__isnull=True), now=now, result=result, field="references")
    if result.failed:
        # The rows still point at files we could not delete: say so rather than claim they are gone.
        raise ServiceUnavailable("The storage could not delete every image. Please retry shortly.")
    return generation
