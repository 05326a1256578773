"""Terminal moves of a generation: succeed, fail (refunding), cancel (refunding), reap.

Each move is a compare-and-set on the generation row, so a duplicate task, a retry,
staff and the reaper can never finish or refund a generation twice.

Lock order (everywhere, to rule out deadlocks): the generation row, then the user's
credit account row, then that account's batches. Only the generation row itself is
locked (`of=("self",)`, FOR NO KEY UPDATE): never the shared ImageModel row every
submit references, and never a lock that blocks the foreign-key checks of inserts
pointing at the generation (ledger rows, images).
"""

from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from billing.services import credits_refund
from generations.events import announce_finished
from generations.failures import FailureCode
from generations.files import stored_delete
from generations.models import GeneratedImage, Generation
from generations.success_statement import succeed_in_one_statement
from gih.db import retry_on_disconnect
from gih.errors import GenerationFinished, GenerationRunning, NotFound
from gih.sql import mark_saved

Status = Generation.Status


def generation_succeed(*, generation: Generation, stored: list[GeneratedImage], attempt: int) -> Generation:
    """Record the delivered images; refund the images the provider did not deliver.

    The images are paid for upstream and already stored: if the database went away
    meanwhile (a restart), the write is retried on a fresh connection (gih/db.py).
    """
    return retry_on_disconnect(
        partial(_succeed, generation, stored, attempt), what=f"Recording the success of {generation.pk}"
    )


def _succeed(generation: Generation, stored: list[GeneratedImage], attempt: int) -> Generation:
    now = timezone.now()
    missing = generation.n - len(stored)
    if not missing and connection.vendor == "postgresql":
        # Nothing to refund: the UPDATE and the images' INSERT in one statement (success_statement.py).
        if not succeed_in_one_statement(generation, stored, attempt, now):
            return _not_won(generation, stored)
        mark_saved(stored)
        _record_success(generation, stored, now)
        announce_finished(generation)
        return generation
    with transaction.atomic():
        # Compare-and-set; the UPDATE also takes the row lock a refund expects first.
        won = Generation.objects.filter(pk=generation.pk, status=Status.RUNNING, attempts=attempt).update(
            status=Status.SUCCEEDED,
            finished_at=now,
            provider_request_id=generation.provider_request_id,
            provider_output=generation.provider_output,
            token_usage=generation.token_usage,
            provider_cost_usd=generation.provider_cost_usd,
        )
        if not won:
            return _not_won(generation, stored)
        GeneratedImage.objects.bulk_create(stored)
        _record_success(generation, stored, now)
        if missing:
            result = credits_refund(
                generation=generation,
                amount=missing * generation.credits_per_image,
                note=f"Refund: {missing} of {generation.n} images not delivered",
            )
            _record_refund(generation, result.refunded)
        announce_finished(generation)
    return generation


def _not_won(generation: Generation, stored: list[GeneratedImage]) -> Generation:
    """The compare-and-set found the generation no longer running as this attempt: its outcome as it stands."""
    if not GeneratedImage.objects.filter(generation_id=generation.pk, file=stored[0].file.name).exists():
        # Race detected: the reaper or staff failed (and refunded) it, or a newer
        # attempt took it over, meanwhile. Its outcome stands; drop our images.
        transaction.on_commit(partial(stored_delete, stored))
    # Else a retry after our own COMMIT whose answer the dropped connection lost: it is done.
    return Generation.objects.select_related("model").get(pk=generation.pk)


def _record_success(generation: Generation, stored: list[GeneratedImage], now) -> None:
    """The written rows on the instance: the response reads generation.images from them (and their bytes)
    instead of a SELECT and, for b64_json, a download of what was uploaded a moment ago."""
    written = GeneratedImage.objects.filter(generation=generation)
    written._result_cache, written._prefetch_done = stored, True  # what prefetch_related would leave
    generation._prefetched_objects_cache = {"images": written}
    generation.status = Status.SUCCEEDED
    generation.finished_at = now


def generation_fail(
    *, generation_id: str, error_code: str, error_message: str, attempt: int | None = None, actor=None
) -> Generation:
    """Fail a non-terminal generation and refund what is left of its charge; a no-op if already terminal.

    `attempt` is the caller's claim (attempts.claim): a superseded attempt changes nothing.
    The reaper, staff (`actor`) and the submit path pass none. Retried on a fresh connection
    if the database went away (gih/db.py): a no-op once it has happened.
    """
    return retry_on_disconnect(
        partial(_fail, generation_id, error_code, error_message, attempt, actor),
        what=f"Recording the failure of {generation_id}",
    )


def _fail(generation_id: str, error_code: str, error_message: str, attempt: int | None, actor) -> Generation:
    with transaction.atomic():
        generation = Generation.objects.select_for_update(of=("self",), no_key=True).get(pk=generation_id)
        if generation.is_terminal or (attempt is not None and generation.attempts != attempt):
            return generation  # someone else finished it or owns it now: never refund twice
        generation.status = Status.FAILED
        generation.error_code = error_code[:64]
        generation.error_message = error_message
        generation.finished_at = timezone.now()
        generation.save(update_fields=["status", "error_code", "error_message", "finished_at"])
        result = credits_refund(
            generation=generation,
            amount=generation.credits_charged - generation.credits_refunded,
            note=f"Refund: generation failed ({error_code})",
            actor=actor,
        )
        _record_refund(generation, result.refunded)
        announce_finished(generation)
    return generation


def generation_cancel(*, user, generation_id: str) -> Generation:
    """Cancel the owner's queued generation with a full refund; its task then finds nothing to run.

    The row lock orders this against the worker's claim (attempts.claim, a compare-and-set
    on `queued`): whichever commits first wins, so a canceled generation never runs and a
    claimed one is never refunded here. Raises NotFound (not the owner's), GenerationRunning,
    or GenerationFinished.
    """
    with transaction.atomic():
        generation = (
            Generation.objects.select_for_update(of=("self",), no_key=True).filter(pk=generation_id, user=user).first()
        )
        if generation is None:
            raise NotFound(f"No generation {generation_id!r} for this account.")
        if generation.status == Status.RUNNING:
            raise GenerationRunning()
        if generation.is_terminal:
            raise GenerationFinished(f"The generation has already finished ({generation.status}).")
        generation.status = Status.CANCELED
        generation.finished_at = timezone.now()
        generation.save(update_fields=["status", "finished_at"])
        result = credits_refund(
            generation=generation,
            amount=generation.credits_charged - generation.credits_refunded,
            note="Refund: generation canceled by its owner",
        )
        _record_refund(generation, result.refunded)
        announce_finished(generation)
    return generation


def _record_refund(generation: Generation, refunded: int) -> None:
    """Billing returns what it gave back; the generation keeps its own total (billing_audit compares them)."""
    if refunded:
        generation.credits_refunded += refunded
        Generation.objects.filter(pk=generation.pk).update(credits_refunded=generation.credits_refunded)


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
            error_code=FailureCode.TIMEOUT,
            error_message=f"Reaped: still unfinished {settings.GENERATION_STUCK_AFTER_SECONDS}s after creation.",
        )
        reaped += generation.error_code == FailureCode.TIMEOUT
    return reaped
