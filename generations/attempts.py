"""The attempt machine: claim a generation, keep its heartbeat, call the provider, store, finish.

The provider call runs with no transaction open and no database connection held, so
hundreds of slow calls do not pin Postgres connections or locks.
"""

import hashlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import partial

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from generations.costs import provider_cost_usd
from generations.failures import FailureCode
from generations.files import mask_load, outputs_store, reference_images_load
from generations.models import GeneratedImage, Generation
from generations.providers import (
    PartialCallback,
    ProviderError,
    ProviderRequest,
    ProviderResult,
    ReferenceImageData,
    TokenUsage,
    provider_for,
    usage,
)
from generations.transitions import generation_fail, generation_succeed
from gih import fair_share
from gih.logs import bind as bind_log_context
from gih.logs import current_request_id
from gih.metrics import provider_request_timed

logger = logging.getLogger(__name__)

Status = Generation.Status


class AttemptInProgress(Exception):
    """Another attempt of the generation is alive (its heartbeat is fresh): look again in `retry_in` seconds."""

    def __init__(self, retry_in: float):
        self.retry_in = retry_in
        super().__init__(f"Another attempt is running; look again in {retry_in:.1f}s.")


def claim(generation_id: str) -> int | None:
    """Take the generation for one run: the attempt number this caller now owns, or None (nothing to run).

    Why attempts and a heartbeat: a worker killed in the provider call (SIGKILL, OOM,
    cold shutdown) leaves the row `running` and Celery redelivers its task (acks_late,
    reject_on_worker_lost). The message cannot tell that redelivery from a duplicate of
    a live task (a second publish, an early visibility-timeout redelivery); the row can,
    because a running attempt refreshes `heartbeat_at` (see heartbeat). So:

    - queued → running is attempt 1;
    - running, heartbeat fresh: a live attempt owns it; raise AttemptInProgress so the
      task looks again when the heartbeat would be stale (the provider is not called);
    - running, heartbeat stale: that attempt died; take over as the next attempt, or, past
      GENERATION_MAX_ATTEMPTS or too close to the reaper's deadline for a full run, fail
      it with a full refund (worker_lost) instead of waiting for the reaper;
    - terminal, gone, or past the reaper's deadline: nothing to do.

    Each move is a compare-and-set, and finishing (transitions) names the attempt, so an
    attempt presumed dead that wakes up (a frozen process) changes nothing: a generation
    completes once, and its one charge (taken at submit) is refunded at most once.
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
            error_code=FailureCode.WORKER_LOST,
            error_message=f"Attempt {attempt - 1} lost its worker; no attempt or time left to run it again.",
            attempt=attempt,
        )
        return None
    return attempt


@contextmanager
def heartbeat(generation_id: str, attempt: int) -> Iterator[None]:
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


def generation_run(*, generation_id: str, reference_images: list[ReferenceImageData] | None = None) -> Generation:
    """Run a queued generation (or take over one whose worker died) to a terminal state.

    Safe to call for a duplicate or redelivered task: see claim. Raises AttemptInProgress
    while another attempt is alive.
    """
    attempt = claim(generation_id)
    generation = Generation.objects.select_related("model").get(pk=generation_id)
    if attempt is None:
        return generation
    return attempt_run(generation=generation, attempt=attempt, reference_images=reference_images)


@dataclass(frozen=True)
class Inputs:
    """What a sync request already holds in memory; a worker's attempt loads them from storage instead."""

    reference_images: list[ReferenceImageData]
    mask: ReferenceImageData | None = None


@dataclass(frozen=True)
class Stream:
    """A streaming client's wish: partial images handed to `on_partial` as the provider sends them."""

    on_partial: PartialCallback
    partial_images: int = 0


def attempt_run(
    *,
    generation: Generation,
    attempt: int,
    reference_images: list[ReferenceImageData] | None = None,
    mask: ReferenceImageData | None = None,
    stream: Stream | None = None,
) -> Generation:
    """Run a claimed attempt under its heartbeat; `reference_images` None: load them and the mask from storage."""
    inputs = Inputs(reference_images, mask) if reference_images is not None else None
    # A takeover queued by the recovery sweep carries no request id of its own: use the submitting request's.
    bind_log_context(
        generation_id=generation.pk,
        attempt=attempt,
        user_id=generation.user_id,
        request_id=None if current_request_id() else generation.request_id or None,
    )
    with heartbeat(generation.pk, attempt):
        return _run(generation, attempt, inputs, stream)


def _release_db_connection() -> None:
    """Give the connection back (to the pool) before a long wait; Django reconnects on next use."""
    if not connection.in_atomic_block:
        connection.close()


def _user_ref(generation: Generation) -> str:
    """An opaque end-user id for the provider's abuse monitoring: the account, and the client's own `user` if sent."""
    end_user = generation.options.get("user", "")
    return hashlib.sha256(f"{settings.SECRET_KEY}:{generation.user_id}:{end_user}".encode()).hexdigest()[:32]


def _provider_request(generation: Generation, inputs: Inputs, stream: Stream | None) -> ProviderRequest:
    options = generation.options
    return ProviderRequest(
        provider_model=generation.model.provider_model,
        prompt=generation.prompt,
        n=generation.n,
        size=generation.size,
        quality=generation.provider_quality,
        reference_images=inputs.reference_images,
        timeout_seconds=settings.GENERATION_TIMEOUT_SECONDS,
        user_ref=_user_ref(generation),
        output_format=options.get("output_format"),
        output_compression=options.get("output_compression"),
        background=options.get("background"),
        moderation=options.get("moderation"),
        input_fidelity=options.get("input_fidelity"),
        mask=inputs.mask,
        partial_images=stream.partial_images if stream else 0,
    )


def _record_report(
    generation: Generation, result: ProviderResult, request: ProviderRequest, stored: list[GeneratedImage]
) -> None:
    """What the provider used and its token usage, written with the success (one UPDATE)."""
    generation.provider_request_id = result.provider_request_id[:128]
    reported = {
        "size": result.size,
        "quality": result.quality,
        "background": result.background,
        "output_format": result.output_format,
    }
    generation.provider_output = {name: value for name, value in reported.items() if value}
    token_usage: TokenUsage | None = result.usage
    if token_usage is None:  # the provider did not count: estimate as OpenAI would
        quality = result.quality or request.quality
        token_usage = usage.estimate(
            prompt=request.prompt,
            references=[reference.content for reference in request.reference_images],
            width=stored[0].width,
            height=stored[0].height,
            quality="high" if quality == "auto" else quality,
            n=len(stored),
        )
    generation.token_usage = token_usage.as_openai()
    # A test key's generation never reaches a provider (providers.provider_for): it cost the hub nothing.
    generation.provider_cost_usd = (
        provider_cost_usd(model_id=generation.model_id, token_usage=generation.token_usage)
        if generation.livemode
        else Decimal(0)
    )


def _run(generation: Generation, attempt: int, inputs: Inputs | None, stream: Stream | None) -> Generation:
    generation_id = generation.pk
    fail = partial(generation_fail, generation_id=generation_id, attempt=attempt)
    try:
        if inputs is None:
            inputs = Inputs(reference_images_load(generation), mask_load(generation))
        provider = provider_for(generation.model.provider, livemode=generation.livemode)
        request = _provider_request(generation, inputs, stream)
        _release_db_connection()
        # Waiting on a provider costs no CPU here: the client's other requests may run meanwhile (gih/fair_share.py).
        with fair_share.released(), provider_request_timed(provider.name):
            result = provider.generate(request, on_partial=stream.on_partial if stream else None)
    except ProviderError as error:
        return fail(error_code=error.code, error_message=error.message)
    except SoftTimeLimitExceeded:  # Celery's prefork pool: GENERATION_TASK_GRACE_SECONDS past the timeout
        return fail(error_code=FailureCode.TIMEOUT, error_message="The task reached its soft time limit.")
    except Exception as error:
        logger.exception("Generation %s failed unexpectedly", generation_id)
        return fail(error_code=FailureCode.INTERNAL_ERROR, error_message=repr(error))

    try:
        stored = outputs_store(generation=generation, images=result.images)
    except Exception as error:
        logger.exception("Storing images of %s failed", generation_id)
        return fail(error_code=FailureCode.STORAGE_FAILED, error_message=repr(error))
    if not stored:
        message = f"The provider returned {len(result.images)} image(s), none usable."
        return fail(error_code=FailureCode.INVALID_OUTPUT, error_message=message)
    _record_report(generation, result, request, stored)
    return generation_succeed(generation=generation, stored=stored, attempt=attempt)
