"""Submitting a generation: validate → charge and create in one transaction → run now (sync) or queue (async).

Money moves only through billing/services.py; the attempt machine (claim, heartbeat,
provider call) is generations/attempts.py and the terminal moves generations/transitions.py.
"""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.services import credits_charge
from generations.attempts import attempt_run
from generations.failures import FailureCode, public_failure_reason
from generations.files import reference_images_store
from generations.models import Generation
from generations.transitions import generation_fail
from generations.validation import GenerationSpec, generation_spec_build, idempotency_key_validate
from gih.celery import app as celery_app
from gih.errors import GenerationFailed, IdempotencyConflict, ServiceUnavailable

logger = logging.getLogger(__name__)

Status = Generation.Status
SYNC_ATTEMPT = 1  # a sync generation is created claimed (generation_submit)
RUN_GENERATION_TASK = "generations.tasks.run_generation"


@dataclass(frozen=True)
class GenerationOutcome:
    generation: Generation
    replayed: bool = False


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

    A sync generation is created already running as attempt 1 (see attempts.claim): the
    request that charged it runs it right away, so a separate claim would only cost a round trip.
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
                credits_charged=spec.credits,  # written with the row: the charge below is all or nothing
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
    idempotency_key_validate(idempotency_key)
    spec = generation_spec_build(data=data, files=files)
    outcome = generation_submit(user=user, spec=spec, api_key=api_key, idempotency_key=idempotency_key)
    generation = outcome.generation
    if outcome.replayed:
        if generation.status == Status.FAILED:
            raise GenerationFailed(failed_message(generation))
        return outcome
    if spec.is_async:
        _keep_reference_images(generation, spec)
        transaction.on_commit(partial(_enqueue_or_fail, generation.pk), robust=False)
        return outcome
    generation = attempt_run(generation=generation, attempt=SYNC_ATTEMPT, reference_images=spec.reference_images)
    if generation.status == Status.FAILED:
        raise GenerationFailed(failed_message(generation))
    return GenerationOutcome(generation=generation)


def failed_message(generation: Generation) -> str:
    return (
        f"Image generation failed: {public_failure_reason(generation.error_code)} "
        f"Generation {generation.pk}; its {generation.credits_refunded} credits were refunded."
    )


def _keep_reference_images(generation: Generation, spec: GenerationSpec) -> None:
    """An async job's worker reads its references from storage; failing to keep them fails the job, refunded."""
    try:
        reference_images_store(generation=generation, references=spec.reference_images)
    except Exception as error:
        logger.exception("Storing reference images of %s failed", generation.pk)
        failed = generation_fail(
            generation_id=generation.pk, error_code=FailureCode.STORAGE_FAILED, error_message=str(error)
        )
        raise GenerationFailed(failed_message(failed)) from error


def _enqueue_or_fail(generation_id: str) -> None:
    """Publish the job by name (generations.tasks imports this module, not the reverse)."""
    try:
        # Retries and socket timeouts come from settings (CELERY_TASK_PUBLISH_RETRY_POLICY,
        # broker transport options): a few seconds at most before the 503.
        celery_app.send_task(RUN_GENERATION_TASK, args=[generation_id])
    except Exception as error:  # the broker is down: undo the charge and say so
        logger.exception("Enqueueing generation %s failed", generation_id)
        generation_fail(
            generation_id=generation_id, error_code=FailureCode.BROKER_UNAVAILABLE, error_message=str(error)
        )
        # A 503 asks the client to retry: free its Idempotency-Key, so the retry is a new
        # request rather than a replay of this refusal (which would answer 500 forever).
        Generation.objects.filter(pk=generation_id).update(idempotency_key=None)
        raise ServiceUnavailable(
            "The job queue is unavailable; no credits were charged. Please retry shortly."
        ) from error
