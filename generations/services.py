"""Submitting a generation: validate → charge and create in one transaction → run now (sync) or queue (async).

Money moves only through billing/services/; the attempt machine (claim, heartbeat,
provider call) is generations/attempts.py and the terminal moves generations/transitions.py.

Both API faces (/api/v1 and the OpenAI-exact /v1) come through here: generation_accept
validates and charges (or finds the generation a request repeats), generation_complete
runs a sync generation (streaming or not) or waits for the one it repeats. The faces
differ only in how they parse the request and shape the answer.

A test key's generation (`livemode=False`) takes the same path, limits and log, but
costs nothing: no pre-check, no charge, no ledger row, and it is rendered locally
(providers.provider_for), so it never reaches a paid provider.
"""

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from billing.services import credits_charge, credits_precheck
from generations.admission import Admission
from generations.attempts import Stream, attempt_run
from generations.failures import FailureCode, is_retryable, public_failure_reason
from generations.files import reference_images_store
from generations.models import Generation
from generations.transitions import generation_fail
from generations.validation import GenerationSpec, generation_spec_build, idempotency_key_validate
from gih.celery import app as celery_app
from gih.errors import GenerationFailed, IdempotencyConflict, ServiceUnavailable
from gih.logs import bind as bind_log_context
from gih.logs import current_request_id
from gih.metrics import credits_charged_count
from gih.slots import account_slot

logger = logging.getLogger(__name__)

Status = Generation.Status
SYNC_ATTEMPT = 1  # a sync generation is created claimed (generation_submit)
RUN_GENERATION_TASK = "generations.tasks.run_generation"


SDK_RETRY_WINDOW = timedelta(minutes=15)
JOIN_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class GenerationOutcome:
    generation: Generation
    replayed: bool = False  # an earlier request's generation (Idempotency-Key, or an SDK retry joining it)
    spec: GenerationSpec | None = None
    joined: bool = False  # an SDK retry joined it: the client is waiting for the result, not a poll URL


def _replay(*, user, idempotency_key: str, fingerprint: str, livemode: bool) -> GenerationOutcome | None:
    existing = Generation.objects.filter(user=user, idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    # A key is one request in one mode: a test key never gets a live generation back, nor the reverse.
    if existing.request_fingerprint != fingerprint or existing.livemode != livemode:
        raise IdempotencyConflict()
    return GenerationOutcome(generation=existing, replayed=True)


def generation_submit(
    *,
    user,
    spec: GenerationSpec,
    api_key=None,
    idempotency_key: str | None = None,
    admission: Admission | None = None,
) -> GenerationOutcome:
    """Create the generation and charge for it in one transaction (InsufficientCredits writes nothing).

    On PostgreSQL the generation row goes in with the charge's ledger rows, in one statement
    (billing.services.ledger._write_takes): one round trip, and no ORM INSERT, fewer per image.

    A sync generation is created already running as attempt 1 (see attempts.claim): the
    request that charged it runs it right away, so a separate claim would only cost a round trip.
    The key's limits (`admission`, generations/admission.py) refuse before anything is charged,
    and check concurrency and spend again under the account lock, in the charge's transaction.
    """
    fingerprint = spec.fingerprint()
    livemode = api_key is None or api_key.livemode
    replay_of = partial(_replay, user=user, idempotency_key=idempotency_key, fingerprint=fingerprint, livemode=livemode)
    if idempotency_key:
        replay = replay_of()
        if replay:
            return replay
    resolution = spec.resolution
    if admission is not None:
        admission.admit(spec=spec)
    credits_per_image = spec.credits_per_image if livemode else 0  # a test key's generation is free
    if livemode:
        # A refusal must be cheap: checked before queueing for the account's slot and row lock.
        credits_precheck(user=user, amount=spec.credits, available=getattr(api_key, "credits_at_auth", None))
    now = timezone.now()  # one instant: a sync generation starts when it is created
    claimed = {} if spec.is_async else {"status": Status.RUNNING, "started_at": now, "attempts": 1, "heartbeat_at": now}
    try:
        # At most ACCOUNT_MAX_CONCURRENT_CHARGES of this account's charges hold a connection
        # at once in this process (gih/slots.py): one tenant cannot occupy the pool.
        with account_slot(user.pk), transaction.atomic():
            if admission is not None:
                admission.recheck(user=user, spec=spec)
            generation = Generation(
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
                credits_per_image=credits_per_image,
                credits_charged=credits_per_image * spec.n,  # written with the row: the charge is all or nothing
                livemode=livemode,
                idempotency_key=idempotency_key or None,
                request_fingerprint=fingerprint,
                face=spec.face,
                options=spec.options,
                request_id=current_request_id(),
                created_at=now,
                **claimed,
            )
            if livemode:
                # The charge's last statement inserts the row with the ledger rows that reference it.
                credits_charge(
                    user=user,
                    amount=spec.credits,
                    generation=generation,
                    note=f"{spec.n} x {spec.model.id} {resolution.quality} {resolution.size}",
                    insert_generation=True,
                )
                transaction.on_commit(partial(credits_charged_count, spec.credits))
            else:
                generation.save(force_insert=True)
        bind_log_context(generation_id=generation.pk)
    except IntegrityError:
        # The same Idempotency-Key raced us and won: answer with its generation.
        replay = idempotency_key and replay_of()
        if not replay:
            raise
        return replay
    return GenerationOutcome(generation=generation)


def _sdk_retry_join(*, user, api_key, fingerprint: str) -> Generation | None:
    """The generation an SDK retry repeats: same key, same body, in the last 15 minutes, not failed.

    The official SDKs retry a timed-out request (twice by default) without an
    Idempotency-Key, so a slow generation would be charged up to three times. A retry
    says so (`x-stainless-retry-count` ≥ 1): it joins the first request's generation
    instead. A failed or canceled one was refunded, so a retry of it runs anew.
    """
    return (
        Generation.objects.filter(
            user=user,
            api_key=api_key,
            request_fingerprint=fingerprint,
            created_at__gte=timezone.now() - SDK_RETRY_WINDOW,
        )
        .exclude(status__in=[Status.FAILED, Status.CANCELED])
        .order_by("-created_at")
        .first()
    )


def generation_accept(
    *,
    user,
    data: Mapping,
    files: Sequence = (),
    mask=None,
    api_key=None,
    idempotency_key: str | None = None,
    face: str = Generation.Face.API,
    edit: bool = False,
    sdk_retry: bool = False,
    admission: Admission | None = None,
) -> GenerationOutcome:
    """Validate and charge a request, or find the generation it repeats; nothing runs yet."""
    idempotency_key_validate(idempotency_key)
    spec = generation_spec_build(data=data, files=files, mask=mask, face=face, edit=edit)
    if sdk_retry and not idempotency_key:
        joined = _sdk_retry_join(user=user, api_key=api_key, fingerprint=spec.fingerprint())
        if joined is not None:
            return GenerationOutcome(generation=joined, replayed=True, spec=spec, joined=True)
    outcome = generation_submit(
        user=user, spec=spec, api_key=api_key, idempotency_key=idempotency_key, admission=admission
    )
    return replace(outcome, spec=spec)


def generation_wait(*, generation: Generation) -> Generation:
    """Wait for another request's generation to finish; the connection is given back between looks."""
    deadline = time.monotonic() + settings.GENERATION_STUCK_AFTER_SECONDS
    while not generation.is_terminal and time.monotonic() < deadline:
        if not connection.in_atomic_block:
            connection.close()
        time.sleep(JOIN_POLL_SECONDS)
        generation = Generation.objects.select_related("model").get(pk=generation.pk)
    return generation


def generation_complete(*, outcome: GenerationOutcome, on_partial=None) -> Generation:
    """Bring an accepted sync generation to its end: run it (relaying partial images to `on_partial`),
    or, for a request that repeats an earlier one, wait for that one. Returns it succeeded or failed
    (failed means fully refunded); never raises for a provider failure.
    """
    generation, spec = outcome.generation, outcome.spec
    if outcome.replayed:
        return generation if generation.is_async else generation_wait(generation=generation)
    stream = Stream(on_partial=on_partial, partial_images=spec.partial_images) if on_partial else None
    return attempt_run(
        generation=generation,
        attempt=SYNC_ATTEMPT,
        reference_images=spec.reference_images,
        mask=spec.mask,
        stream=stream,
    )


def generation_finish(*, outcome: GenerationOutcome) -> GenerationOutcome:
    """The documented /api/v1 flow after accept: run now (sync) or queue (async).

    Sync: returns the finished generation, or raises GenerationFailed after a full refund.
    Async: returns the queued generation once its task is enqueued. An Idempotency-Key
    replay returns the original as it is now (a running one answers 202 with its poll URL).
    """
    generation, spec = outcome.generation, outcome.spec
    if outcome.replayed:
        if outcome.joined and not generation.is_async:
            generation = generation_wait(generation=generation)
        if generation.status == Status.FAILED:
            raise GenerationFailed(failed_message(generation))
        return replace(outcome, generation=generation)
    if spec.is_async:
        _keep_reference_images(generation, spec)
        transaction.on_commit(partial(_enqueue_or_fail, generation.pk), robust=False)
        return outcome
    generation = generation_complete(outcome=outcome)
    if generation.status == Status.FAILED:
        raise GenerationFailed(failed_message(generation), retryable=is_retryable(generation.error_code))
    return replace(outcome, generation=generation)


def generation_request(
    *, user, data: Mapping, files: Sequence = (), api_key=None, idempotency_key: str | None = None, **options
) -> GenerationOutcome:
    """Everything a /api/v1 request does: validate, charge, then run now (sync) or queue (async)."""
    outcome = generation_accept(
        user=user, data=data, files=files, api_key=api_key, idempotency_key=idempotency_key, **options
    )
    return generation_finish(outcome=outcome)


def failed_message(generation: Generation) -> str:
    return (
        f"Image generation failed: {public_failure_reason(generation.error_code)} "
        f"Generation {generation.pk}; its {generation.credits_refunded} credits were refunded."
    )


def _keep_reference_images(generation: Generation, spec: GenerationSpec) -> None:
    """An async job's worker reads its references from storage; failing to keep them fails the job, refunded."""
    try:
        reference_images_store(generation=generation, references=spec.reference_images, mask=spec.mask)
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
