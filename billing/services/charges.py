"""What a generation moves: the charge before the provider call, the pre-check, the refund after."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from billing.locking import lock_account as _lock_account
from billing.locking import lock_account_bounded
from billing.models import (
    CheckoutOrder,
    CreditAccount,
    CreditBatch,
    LedgerEntry,
)
from billing.selectors import usable_batch_rows
from billing.services.ledger import AccountBusy, InsufficientCredits, RefundResult, _take


def credits_charge(*, user, amount: int, generation, note: str = "", insert_generation: bool = False) -> int:
    """Charge a generation before its provider call; returns the amount, or raises InsufficientCredits writing nothing.

    Runs in (or joins) a transaction: the caller creates the generation row in the same
    transaction, so a refused charge leaves no generation behind either. A generation already
    charged raises AlreadyCharged (checked in the batches' statement, under the account lock: ledger._take);
    with no usable credits left at all, that refusal is InsufficientCredits instead. Either way nothing is taken twice.
    `insert_generation`: `generation` is not saved yet; the charge's last statement inserts it with the ledger rows
    that reference it (one round trip fewer per generation; a refused charge then never writes it at all).
    """
    if amount <= 0:
        raise ValueError("A charge must be a positive number of credits.")
    # No savepoint: a refused charge fails the caller's whole transaction, which the caller
    # rolls back (the generation row goes with it). Two round trips fewer per generation.
    with transaction.atomic(savepoint=False):
        account = _lock_account_bounded(user.pk)
        _take(
            account,
            amount,
            kind=LedgerEntry.Kind.CHARGE,
            now=timezone.now(),
            generation=generation,
            note=note,
            insert_generation=insert_generation,
        )
    return amount


def credit_account_lock(*, user) -> CreditAccount:
    """Take the account lock a charge takes, early, in the caller's transaction (bounded: AccountBusy).

    For checks that must hold until the charge commits (a key's concurrency and spend limits,
    generations/admission.py): the charge that follows in the same transaction already holds it.
    """
    return _lock_account_bounded(user.pk)


def credits_precheck(*, user, amount: int, available: int | None = None) -> None:
    """Raise InsufficientCredits now if the balance as last committed cannot cover `amount`; reads, never locks.

    Why: callers check before they queue for the account lock (generations.services), so an
    account without credits flooding the API gets cheap 402s instead of holding pooled
    connections waiting on its own row. The charge re-checks under the lock, and that
    check is the one that counts (a concurrent grant may still make this one pessimistic).
    `available`: the usable credits when the caller read them this request already (the
    generation views, in the query that authenticated the key: billing.api_key_loaders).
    """
    if available is None:
        available = sum(batch.remaining for batch in usable_batch_rows(user.pk, timezone.now()))
    if available < amount:
        raise InsufficientCredits(needed=amount, available=available)


def _lock_account_bounded(user_id: int) -> CreditAccount:
    """The account lock for a charge, waiting at most ACCOUNT_LOCK_TIMEOUT_MS; AccountBusy after that.

    Only charges are bounded: a refund or grant must happen, so it waits its turn. On
    Postgres the limit is `lock_timeout`, local to the transaction, set in the same round
    trip as the lock (billing/locking.py). The timeout aborts the transaction: the charge
    writes nothing, and the caller's transaction rolls back with it.
    """
    if connection.vendor != "postgresql":
        return _lock_account(user_id)
    try:
        return lock_account_bounded(user_id, timeout_ms=settings.ACCOUNT_LOCK_TIMEOUT_MS)
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) == "55P03":  # lock_not_available
            raise AccountBusy() from error
        raise


def credits_refund(*, generation, amount: int, note: str = "", actor=None) -> RefundResult:
    """Give back `amount` (capped at what was charged) of a generation's charge, once.

    Idempotent: a generation is refunded at most once, whoever calls (the request,
    a retried task, the reaper, staff as `actor`); later calls return already_refunded=True.
    Callers hold the generation's row lock first (as generation_fail does), so the lock
    order is always generation → account → batches and two refunders cannot deadlock.
    """
    if amount <= 0:
        return RefundResult(refunded=0, already_refunded=False)
    with transaction.atomic():
        account = _lock_account(generation.user_id)
        if LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.REFUND).exists():
            return RefundResult(refunded=0, already_refunded=True)
        charges = list(
            LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.CHARGE)
            .select_related("batch")
            .order_by("-id")
        )
        left = min(amount, -sum(entry.amount for entry in charges))
        refunded = left
        now = timezone.now()
        entries = []
        expired_share = 0
        # Credits of an order whose payment was refunded went back with the money (order_reverse).
        reversed_batches = _reversed_order_batches(charges)
        for charge in charges:  # last-taken first: the later-expiring batches get credits back first
            if left == 0:
                break
            back = min(left, -charge.amount)
            left -= back
            if charge.batch_id in reversed_batches:
                refunded -= back
                continue
            if charge.batch.is_expired(now):
                expired_share += back
                continue
            CreditBatch.objects.filter(pk=charge.batch_id).update(remaining=F("remaining") + back)
            entries.append(
                LedgerEntry(
                    account=account,
                    batch_id=charge.batch_id,
                    kind=LedgerEntry.Kind.REFUND,
                    amount=back,
                    generation=generation,
                    actor=actor,
                    note=note,
                    created_at=now,
                )
            )
        if expired_share:
            refund_entry = _refund_batch(account, expired_share, generation=generation, actor=actor, note=note, now=now)
            entries.append(refund_entry)
        LedgerEntry.objects.bulk_create(entries)
    return RefundResult(refunded=refunded, already_refunded=False)


def _reversed_order_batches(charges: list[LedgerEntry]) -> set[int]:
    """Of these charges' batches, the ones bought by an order that was refunded since; read under the account lock."""
    ordered = [charge.batch_id for charge in charges if charge.batch.order_id is not None]
    if not ordered:
        return set()
    return set(
        CreditBatch.objects.filter(pk__in=ordered, order__status=CheckoutOrder.Status.REFUNDED).values_list(
            "pk", flat=True
        )
    )


def _refund_batch(account: CreditAccount, amount: int, *, generation, actor, note: str, now: datetime) -> LedgerEntry:
    """A fresh short-lived batch for refunded credits whose own batch expired during the generation."""
    batch = CreditBatch.objects.create(
        account=account,
        amount=amount,
        remaining=amount,
        source=CreditBatch.Source.REFUND,
        expires_at=now + timedelta(days=settings.CREDIT_REFUND_GRACE_DAYS),
        granted_by=actor,
        note=f"{note} (its batch expired meanwhile)",
        created_at=now,
    )
    return LedgerEntry(
        account=account,
        batch=batch,
        kind=LedgerEntry.Kind.REFUND,
        amount=amount,
        generation=generation,
        actor=actor,
        note=note,
        created_at=now,
    )
