"""The generation flow: validate → price → charge → call the provider → store → refund the rest.

Money moves only through billing/services.py. The provider call runs with no
transaction open and no database connection held, so hundreds of slow calls do
not pin Postgres connections or locks. State moves only forward
(queued → running → succeeded | failed), each move a compare-and-set on the
row, so a duplicate task, a retry or the reaper can never run or refund twice.
"""

import hashlib
import json
import logging
import secrets
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from billing.services import credits_charge, credits_refund
from generations import pricing
from generations.images import NotAnImage, inspect_image
from generations.models import GeneratedImage, Generation, ImageModel, ReferenceImage
from generations.providers import ProviderError, ProviderRequest, ReferenceImageData, provider_for
from generations.serializers import GenerationRequestSerializer
from gih.errors import GenerationFailed, IdempotencyConflict, InvalidRequest, ServiceUnavailable, validation_message

logger = logging.getLogger(__name__)

Status = Generation.Status
REFERENCE_FIELDS = ("reference_image", "reference_image[]", "reference_images", "image", "image[]")
MAX_IDEMPOTENCY_KEY_LENGTH = 255
SYNC_ATTEMPT = 1  # a sync generation is created claimed (generation_submit)

# What clients see for a failed generation; the raw provider text stays on the row.
# English in the API; marked for translation so the account area can show them translated.
PUBLIC_FAILURE_REASONS = {
    "provider_rejected": gettext_noop("The provider refused the request (content policy)."),
    "provider_timeout": gettext_noop("The provider did not answer in time."),
    "provider_rate_limited": gettext_noop("The provider is overloaded; please retry later."),
    "provider_unavailable": gettext_noop("The provider failed; please retry later."),
    "provider_unreachable": gettext_noop("The provider could not be reached; please retry later."),
    "invalid_output": gettext_noop("The provider returned no usable image."),
    "storage_failed": gettext_noop("The images could not be stored."),
    "timeout": gettext_noop("The generation did not finish in time."),
    "broker_unavailable": gettext_noop("The job queue is unavailable; please retry later."),
    "worker_lost": gettext_noop("The worker running the generation stopped; please retry."),
}
DEFAULT_PUBLIC_FAILURE = gettext_noop("Image generation failed.")


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


@dataclass(frozen=True)
class GenerationOutcome:
    generation: Generation
    replayed: bool = False


def public_failure_reason(generation: Generation) -> str:
    return PUBLIC_FAILURE_REASONS.get(generation.error_code, DEFAULT_PUBLIC_FAILURE)


# --- Validation -------------------------------------------------------------


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
    model = ImageModel.objects.filter(pk=values["model"], enabled=True).first()
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


# --- Submit -----------------------------------------------------------------


def _replay(*, user, idempotency_key: str, fingerprint: str) -> GenerationOutcome | None:
    existing = Generation.objects.filter(user=user, idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    if existing.request_fingerprint != fingerprint:
        raise IdempotencyConflict()
    return GenerationOutcome(generation=existing, replayed=True)


def generation_submit(
    *, user, spec: GenerationSpec, api_key=None, idempotency_key: str | None = None
) -> GenerationOutcome:
    """Create the generation and charge for it in one transaction (InsufficientCredits writes nothing).

    A sync generation is created already running as attempt 1 (see _claim): the request
    that charged it runs it right away, so a separate claim would only cost a round trip.
    """
    fingerprint = spec.fingerprint()
    if idempotency_key:
        replay = _replay(user=user, idempotency_key=idempotency_key, fingerprint=fingerprint)
        if replay:
            return replay
    resolution = spec.resolution
    now = timezone.now()  # one instant: a sync generation starts when it is created
    claimed = {} if spec.is_async else {"status": Status.RUNNING, "started_at": now, "attempts": 1, "heartbeat_at": now}
    try:
        with transaction.atomic():
            generation = Generation.objects.create(
                user=user,
                api_key=api_key,
                model=spec.model,
                prompt=spec.prompt,
                n=spec.n,
                aspect_ratio=resolution.aspect_ratio,
                quality=resolution.quality,
                size=resolution.size,
                provider_quality=resolution.provider_quality,
                is_async=spec.is_async,
                credits_per_image=spec.credits_per_image,
                idempotency_key=idempotency_key or None,
                request_fingerprint=fingerprint,
                created_at=now,
                **claimed,
            )
            credits_charge(
                user=user,
                amount=spec.credits,
                generation=generation,
                note=f"{spec.n} x {spec.model.id} {resolution.quality} {resolution.size}",
            )
    except IntegrityError:
        # The same Idempotency-Key raced us and won: answer with its generation.
        replay = idempotency_key and _replay(user=user, idempotency_key=idempotency_key, fingerprint=fingerprint)
        if not replay:
            raise
        return replay
    return GenerationOutcome(generation=generation)


def generation_request(
    *, user, data: Mapping, files: Sequence = (), api_key=None, idempotency_key: str | None = None
) -> GenerationOutcome:
    """Everything a client request does: validate, charge, then run now (sync) or queue (async).

    Sync: returns the finished generation, or raises GenerationFailed after a full refund.
    Async: returns the queued generation once its task is enqueued.
    """
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidRequest(f"Idempotency-Key: must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters.")
    spec = generation_spec_build(data=data, files=files)
    outcome = generation_submit(user=user, spec=spec, api_key=api_key, idempotency_key=idempotency_key)
    generation = outcome.generation
    if outcome.replayed:
        if generation.status == Status.FAILED:
            raise GenerationFailed(_failed_message(generation))
        return outcome
    if spec.is_async:
        _store_reference_images(generation, spec.reference_images)
        transaction.on_commit(partial(_enqueue_or_fail, generation.pk), robust=False)
        return outcome
    generation = _run_claimed(generation, SYNC_ATTEMPT, spec.reference_images)
    if generation.status == Status.FAILED:
        raise GenerationFailed(_failed_message(generation))
    return GenerationOutcome(generation=generation)


def _failed_message(generation: Generation) -> str:
    return (
        f"Image generation failed: {public_failure_reason(generation)} "
        f"Generation {generation.pk}; its {generation.credits_refunded} credits were refunded."
    )


def _store_reference_images(generation: Generation, references: list[ReferenceImageData]) -> None:
    """Keep reference images in storage so a worker can read them later."""
    try:
        rows = [
            ReferenceImage(
                generation=generation,
                position=position,
                content_type=reference.content_type,
                file=default_storage.save(
                    f"references/{generation.pk}/{secrets.token_urlsafe(12)}-{reference.filename}",
                    ContentFile(reference.content),
                ),
            )
            for position, reference in enumerate(references)
        ]
    except Exception as error:
        logger.exception("Storing reference images of %s failed", generation.pk)
        generation_fail(generation_id=generation.pk, error_code="storage_failed", error_message=str(error))
        raise GenerationFailed(_failed_message(Generation.objects.get(pk=generation.pk))) from error
    ReferenceImage.objects.bulk_create(rows)


def _enqueue_or_fail(generation_id: str) -> None:
    from generations.tasks import run_generation

    try:
        # Retries and socket timeouts come from settings (CELERY_TASK_PUBLISH_RETRY_POLICY,
        # broker transport options): a few seconds at most before the 503.
        run_generation.apply_async(args=[generation_id])
    except Exception as error:  # the broker is down: undo the charge and say so
        logger.exception("Enqueueing generation %s failed", generation_id)
        generation_fail(generation_id=generation_id, error_code="broker_unavailable", error_message=str(error))
        # A 503 asks the client to retry: free its Idempotency-Key, so the retry is a new
        # request rather than a replay of this refusal (which would answer 500 forever).
        Generation.objects.filter(pk=generation_id).update(idempotency_key=None)
        raise ServiceUnavailable(
            "The job queue is unavailable; no credits were charged. Please retry shortly."
        ) from error


# --- Run ----------------------------------------------------------------------


def _release_db_connection() -> None:
    """Give the connection back (to the pool) before a long wait; Django reconnects on next use."""
    if not connection.in_atomic_block:
        connection.close()


def _load_reference_images(generation: Generation) -> list[ReferenceImageData]:
    references = []
    for reference in generation.reference_images.all():
        with default_storage.open(reference.file.name, "rb") as handle:
            content = handle.read()
        references.append(
            ReferenceImageData(
                content=content, content_type=reference.content_type, filename=reference.file.name.rsplit("/", 1)[-1]
            )
        )
    return references


class AttemptInProgress(Exception):
    """Another attempt of the generation is alive (its heartbeat is fresh): look again in `retry_in` seconds."""

    def __init__(self, retry_in: float):
        self.retry_in = retry_in
        super().__init__(f"Another attempt is running; look again in {retry_in:.1f}s.")


def _claim(generation_id: str) -> int | None:
    """Take the generation for one run: the attempt number this caller now owns, or None (nothing to run).

    Why attempts and a heartbeat: a worker killed in the provider call (SIGKILL, OOM,
    cold shutdown) leaves the row `running` and Celery redelivers its task (acks_late,
    reject_on_worker_lost). The message cannot tell that redelivery from a duplicate of
    a live task (a second publish, an early visibility-timeout redelivery); the row can,
    because a running attempt refreshes `heartbeat_at` (see _heartbeat). So:

    - queued → running is attempt 1;
    - running, heartbeat fresh: a live attempt owns it; raise AttemptInProgress so the
      task looks again when the heartbeat would be stale (the provider is not called);
    - running, heartbeat stale: that attempt died; take over as the next attempt, or, past
      GENERATION_MAX_ATTEMPTS or too close to the reaper's deadline for a full run, fail
      it with a full refund (error_code worker_lost) instead of waiting for the reaper;
    - terminal, gone, or past the reaper's deadline: nothing to do.

    Each move is a compare-and-set, and finishing (_generation_succeed, generation_fail)
    names the attempt, so an attempt presumed dead that wakes up (a frozen process)
    changes nothing: a generation completes once, and its one charge (taken at submit)
    is refunded at most once.
    """
    now = timezone.now()
    if Generation.objects.filter(pk=generation_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, attempts=1, heartbeat_at=now
    ):
        return 1
    row = (
        Generation.objects.filter(pk=generation_id, status=Status.RUNNING)
        .values("attempts", "heartbeat_at", "started_at", "created_at")
        .first()
    )
    if row is None:
        return None
    deadline = row["created_at"] + timedelta(seconds=settings.GENERATION_STUCK_AFTER_SECONDS)
    if deadline <= now:
        return None  # the reaper's now
    stale_after = timedelta(seconds=settings.GENERATION_HEARTBEAT_STALE_SECONDS)
    last_seen = row["heartbeat_at"] or row["started_at"]  # a row claimed before heartbeats existed
    if last_seen + stale_after > now:
        raise AttemptInProgress(retry_in=(last_seen + stale_after - now).total_seconds() + 1)
    attempt = row["attempts"] + 1
    taken = Generation.objects.filter(
        pk=generation_id, status=Status.RUNNING, attempts=row["attempts"], heartbeat_at=row["heartbeat_at"]
    ).update(attempts=attempt, heartbeat_at=now)
    if not taken:  # another delivery took it over (or it finished) just now
        raise AttemptInProgress(retry_in=settings.GENERATION_HEARTBEAT_STALE_SECONDS)
    logger.warning("Generation %s: attempt %s lost its worker, taking over", generation_id, attempt - 1)
    time_left = (deadline - now).total_seconds()
    if attempt > settings.GENERATION_MAX_ATTEMPTS or time_left < settings.GENERATION_TIMEOUT_SECONDS:
        generation_fail(
            generation_id=generation_id,
            error_code="worker_lost",
            error_message=f"Attempt {attempt - 1} lost its worker; no attempt or time left to run it again.",
            attempt=attempt,
        )
        return None
    return attempt


@contextmanager
def _heartbeat(generation_id: str, attempt: int) -> Iterator[None]:
    """Refresh the attempt's heartbeat_at until the block ends.

    A thread beats every GENERATION_HEARTBEAT_SECONDS on its own connection, closed after
    each beat, so the provider call still holds no connection. It stops once the row is
    no longer this attempt's (finished, reaped or taken over).
    """
    stop = threading.Event()

    def beat() -> None:
        mine = True
        while mine and not stop.wait(settings.GENERATION_HEARTBEAT_SECONDS):
            try:
                mine = bool(
                    Generation.objects.filter(pk=generation_id, status=Status.RUNNING, attempts=attempt).update(
                        heartbeat_at=timezone.now()
                    )
                )
            except DatabaseError:  # keep trying: a missed beat only invites a takeover
                logger.warning("Heartbeat of generation %s failed", generation_id, exc_info=True)
            finally:
                connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{generation_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def _store_outputs(generation: Generation, images: list[bytes]) -> list[GeneratedImage]:
    """Verify provider output and store each image under an unguessable key; invalid ones are dropped."""
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
        stored.append(
            GeneratedImage(
                generation=generation,
                file=name,
                width=info.width,
                height=info.height,
                content_type=info.content_type,
                byte_size=len(content),
            )
        )
    return stored


def _delete_stored(images: list[GeneratedImage]) -> None:
    for image in images:
        try:
            default_storage.delete(image.file.name)
        except Exception:  # best effort: an orphan object costs storage, not money
            logger.warning("Could not delete orphaned image %s", image.file.name)


def generation_run(*, generation_id: str, reference_images: list[ReferenceImageData] | None = None) -> Generation:
    """Run a queued generation (or take over one whose worker died) to a terminal state.

    Safe to call for a duplicate or redelivered task: see _claim. Raises AttemptInProgress
    while another attempt is alive.
    """
    attempt = _claim(generation_id)
    generation = Generation.objects.select_related("model").get(pk=generation_id)
    if attempt is None:
        return generation
    return _run_claimed(generation, attempt, reference_images)


def _run_claimed(
    generation: Generation, attempt: int, reference_images: list[ReferenceImageData] | None
) -> Generation:
    with _heartbeat(generation.pk, attempt):
        return _run_attempt(generation, attempt, reference_images)


def _run_attempt(generation: Generation, attempt: int, reference_images: list[ReferenceImageData] | None) -> Generation:
    generation_id = generation.pk
    fail = partial(generation_fail, generation_id=generation_id, attempt=attempt)
    try:
        if reference_images is None:
            reference_images = _load_reference_images(generation)
        provider = provider_for(generation.model.provider)
        request = ProviderRequest(
            provider_model=generation.model.provider_model,
            prompt=generation.prompt,
            n=generation.n,
            size=generation.size,
            quality=generation.provider_quality,
            reference_images=reference_images,
            timeout_seconds=settings.GENERATION_TIMEOUT_SECONDS,
            user_ref=hashlib.sha256(f"{settings.SECRET_KEY}:{generation.user_id}".encode()).hexdigest()[:32],
        )
        _release_db_connection()
        result = provider.generate(request)
    except ProviderError as error:
        return fail(error_code=error.code, error_message=error.message)
    except SoftTimeLimitExceeded:  # Celery's prefork pool: GENERATION_TASK_GRACE_SECONDS past the timeout
        return fail(error_code="timeout", error_message="The task reached its soft time limit.")
    except Exception as error:
        logger.exception("Generation %s failed unexpectedly", generation_id)
        return fail(error_code="internal_error", error_message=repr(error))

    try:
        stored = _store_outputs(generation, result.images)
    except Exception as error:
        logger.exception("Storing images of %s failed", generation_id)
        return fail(error_code="storage_failed", error_message=repr(error))
    if not stored:
        message = f"The provider returned {len(result.images)} image(s), none usable."
        return fail(error_code="invalid_output", error_message=message)
    return _generation_succeed(generation, stored, attempt)


def _generation_succeed(generation: Generation, stored: list[GeneratedImage], attempt: int) -> Generation:
    now = timezone.now()
    with transaction.atomic():
        # Compare-and-set; the UPDATE also takes the row lock that credits_refund expects first.
        won = Generation.objects.filter(pk=generation.pk, status=Status.RUNNING, attempts=attempt).update(
            status=Status.SUCCEEDED, finished_at=now
        )
        if not won:
            # Race detected: the reaper or staff failed (and refunded) it, or a newer
            # attempt took it over, meanwhile. Its outcome stands; drop our images.
            transaction.on_commit(partial(_delete_stored, stored))
            return Generation.objects.select_related("model").get(pk=generation.pk)
        GeneratedImage.objects.bulk_create(stored)
        generation.status = Status.SUCCEEDED
        generation.finished_at = now
        missing = generation.n - len(stored)
        if missing:
            credits_refund(
                generation=generation,
                amount=missing * generation.credits_per_image,
                note=f"Refund: {missing} of {generation.n} images not delivered",
            )
    return generation


def generation_fail(
    *, generation_id: str, error_code: str, error_message: str, attempt: int | None = None
) -> Generation:
    """Fail a non-terminal generation and refund what is left of its charge; a no-op if already terminal.

    `attempt` is the caller's claim (see _claim): a superseded attempt changes nothing.
    The reaper and the submit path pass none.
    """
    with transaction.atomic():
        generation = Generation.objects.select_for_update().select_related("model").get(pk=generation_id)
        if generation.is_terminal or (attempt is not None and generation.attempts != attempt):
            return generation  # someone else finished it or owns it now: never refund twice
        generation.status = Status.FAILED
        generation.error_code = error_code[:64]
        generation.error_message = error_message
        generation.finished_at = timezone.now()
        generation.save(update_fields=["status", "error_code", "error_message", "finished_at"])
        credits_refund(
            generation=generation,
            amount=generation.credits_charged - generation.credits_refunded,
            note=f"Refund: generation failed ({error_code})",
        )
    return generation


def generations_reap_stuck(*, now: datetime | None = None) -> int:
    """Fail and refund generations still queued or running past the stuck limit (e.g. a killed worker)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.GENERATION_STUCK_AFTER_SECONDS)
    stuck = list(
        Generation.objects.filter(status__in=[Status.QUEUED, Status.RUNNING], created_at__lt=cutoff).values_list(
            "pk", flat=True
        )
    )
    reaped = 0
    for generation_id in stuck:
        generation = generation_fail(
            generation_id=generation_id,
            error_code="timeout",
            error_message=f"Reaped: still unfinished {settings.GENERATION_STUCK_AFTER_SECONDS}s after creation.",
        )
        reaped += generation.error_code == "timeout"
    return reaped
