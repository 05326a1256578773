"""Every credit movement: grant, adjust, charge, refund, expire.

Each function runs in one transaction that first locks the user's CreditAccount
row (SELECT ... FOR UPDATE on Postgres; SQLite's IMMEDIATE transactions lock the
whole database), re-reads the batches inside the lock, and writes one
append-only ledger row per batch touched. Nothing else writes batches or ledger
rows. Callers must never hold these locks across a provider call.

Charges and refunds return amounts; the generation keeps its own totals
(generations/transitions.py), and billing_audit compares the two.

Refunds go back to the batches the charge took from, the last-taken first. A batch
that expired while the generation ran would swallow its refund (the user would pay
for the hub's failure), so what belongs to an expired batch comes back as a fresh
`refund` batch that lasts CREDIT_REFUND_GRACE_DAYS: long enough to retry, not a way
to make credits outlive their batch indefinitely.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone

from billing.models import AccountType, CreditAccount, CreditBatch, LedgerEntry


class InsufficientCredits(Exception):
    def __init__(self, needed: int, available: int):
        self.needed = needed
        self.available = available
        super().__init__(f"The account does not have enough credits: {needed} needed, {available} available.")


@dataclass(frozen=True)
class RefundResult:
    refunded: int
    already_refunded: bool


def credit_account_get(*, user) -> CreditAccount:
    account, _ = CreditAccount.objects.get_or_create(user=user)
    return account


def _lock_account(user_id: int) -> CreditAccount:
    """Lock (creating if needed) the user's credit account row; call inside atomic()."""
    try:
        return CreditAccount.objects.select_for_update().get(pk=user_id)
    except CreditAccount.DoesNotExist:  # only before the user's first credit movement
        CreditAccount.objects.get_or_create(user_id=user_id)
        return CreditAccount.objects.select_for_update().get(pk=user_id)


def usable_batches(account_id: int, now: datetime) -> QuerySet[CreditBatch]:
    """Batches with credits left and not expired, soonest-expiring first, never-expiring last."""
    return (
        CreditBatch.objects.filter(account_id=account_id, remaining__gt=0)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by(F("expires_at").asc(nulls_last=True), "created_at", "id")
    )


def _take(
    account: CreditAccount, amount: int, *, kind: str, now: datetime, generation=None, actor=None, note: str = ""
) -> list[LedgerEntry]:
    """Take `amount` from usable batches (soonest-expiring first); the account must be locked."""
    batches = list(usable_batches(account.pk, now).select_for_update())
    available = sum(batch.remaining for batch in batches)
    if available < amount:
        raise InsufficientCredits(needed=amount, available=available)
    entries = []
    left = amount
    for batch in batches:
        if left == 0:
            break
        taken = min(left, batch.remaining)
        CreditBatch.objects.filter(pk=batch.pk).update(remaining=F("remaining") - taken)
        entries.append(
            LedgerEntry(
                account=account,
                batch=batch,
                kind=kind,
                amount=-taken,
                generation=generation,
                actor=actor,
                note=note,
                created_at=now,
            )
        )
        left -= taken
    return LedgerEntry.objects.bulk_create(entries)


def credit_account_set_type(*, user, account_type: str) -> CreditAccount:
    if account_type not in AccountType.values:
        raise ValueError(f"Unknown account type {account_type!r}; expected one of {', '.join(AccountType.values)}.")
    account = credit_account_get(user=user)
    CreditAccount.objects.filter(pk=account.pk).update(account_type=account_type)
    account.account_type = account_type
    return account


def credits_grant(
    *,
    user,
    amount: int,
    expires_at: datetime | None = None,
    source: str = CreditBatch.Source.GRANT,
    actor=None,
    note: str = "",
) -> CreditBatch:
    """Add a new batch of `amount` credits (optionally expiring) with its grant row."""
    if amount <= 0:
        raise ValueError("A grant must be a positive number of credits.")
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise ValueError("A grant's expiry must be in the future.")
    with transaction.atomic():
        account = _lock_account(user.pk)
        return _add_batch(
            account,
            amount,
            kind=LedgerEntry.Kind.GRANT,
            source=source,
            expires_at=expires_at,
            actor=actor,
            note=note,
            now=now,
        ).batch


def credits_adjust(*, user, amount: int, actor, note: str, expires_at: datetime | None = None) -> list[LedgerEntry]:
    """A staff correction: positive adds a new batch, negative takes from usable batches.

    A negative adjustment larger than the balance raises InsufficientCredits.
    """
    if amount == 0:
        raise ValueError("An adjustment must not be zero.")
    if not note.strip():
        raise ValueError("An adjustment needs a reason.")
    now = timezone.now()
    if amount > 0 and expires_at is not None and expires_at <= now:
        raise ValueError("An adjustment's expiry must be in the future.")
    with transaction.atomic():
        account = _lock_account(user.pk)
        if amount < 0:
            return _take(account, -amount, kind=LedgerEntry.Kind.ADJUST, now=now, actor=actor, note=note)
        entry = _add_batch(
            account,
            amount,
            kind=LedgerEntry.Kind.ADJUST,
            source=CreditBatch.Source.ADJUSTMENT,
            expires_at=expires_at,
            actor=actor,
            note=note,
            now=now,
        )
        return [entry]


def _add_batch(
    account: CreditAccount, amount: int, *, kind: str, source: str, expires_at, actor, note: str, now: datetime
) -> LedgerEntry:
    """A new batch and the ledger row that created it; the account must be locked."""
    batch = CreditBatch.objects.create(
        account=account,
        amount=amount,
        remaining=amount,
        source=source,
        expires_at=expires_at,
        granted_by=actor,
        note=note,
        created_at=now,
    )
    return LedgerEntry.objects.create(
        account=account, batch=batch, kind=kind, amount=amount, actor=actor, note=note, created_at=now
    )


def credits_charge(*, user, amount: int, generation, note: str = "") -> int:
    """Charge a generation before its provider call; returns the amount, or raises InsufficientCredits writing nothing.

    Runs in (or joins) a transaction: the caller creates the generation row in the same
    transaction, so a refused charge leaves no generation behind either.
    """
    if amount <= 0:
        raise ValueError("A charge must be a positive number of credits.")
    with transaction.atomic():
        account = _lock_account(user.pk)
        if LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.CHARGE).exists():
            raise ValueError(f"Generation {generation.pk} is already charged.")
        _take(account, amount, kind=LedgerEntry.Kind.CHARGE, now=timezone.now(), generation=generation, note=note)
    return amount


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
        for charge in charges:  # last-taken first: the later-expiring batches get credits back first
            if left == 0:
                break
            back = min(left, -charge.amount)
            left -= back
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


def credits_expire_due(*, now: datetime | None = None) -> int:
    """Write off what is left in expired batches; returns the credits expired.

    Expired credits are already unusable (every read filters on expires_at); this
    sweep makes the ledger say so. One short transaction per account.
    """
    now = now or timezone.now()
    # order_by(): without it the model's default ordering adds created_at to the SELECT DISTINCT,
    # listing an account once per expired batch instead of once.
    account_ids = (
        CreditBatch.objects.filter(remaining__gt=0, expires_at__lte=now)
        .order_by()
        .values_list("account_id", flat=True)
        .distinct()
    )
    total = 0
    for account_id in list(account_ids):
        with transaction.atomic():
            account = CreditAccount.objects.select_for_update().get(pk=account_id)
            batches = list(
                CreditBatch.objects.select_for_update().filter(account=account, remaining__gt=0, expires_at__lte=now)
            )
            for batch in batches:
                CreditBatch.objects.filter(pk=batch.pk).update(remaining=0)
                total += batch.remaining
            LedgerEntry.objects.bulk_create(
                LedgerEntry(
                    account=account,
                    batch=batch,
                    kind=LedgerEntry.Kind.EXPIRE,
                    amount=-batch.remaining,
                    note="Batch expired",
                    created_at=now,
                )
                for batch in batches
            )
    return total


def ledger_balance(*, user, now: datetime | None = None) -> int:
    """The balance as the ledger tells it (sum of ledger rows of unexpired batches)."""
    now = now or timezone.now()
    return (
        LedgerEntry.objects.filter(account_id=user.pk)
        .filter(Q(batch__expires_at__isnull=True) | Q(batch__expires_at__gt=now))
        .aggregate(total=Sum("amount"))["total"]
        or 0
    )
