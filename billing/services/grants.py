"""Credits in from staff and the system, and their expiry: grant, adjust, expire."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from billing.locking import lock_account as _lock_account
from billing.models import (
    CreditAccount,
    CreditBatch,
    LedgerEntry,
)
from billing.services.ledger import _add_batch, _check_size, _take


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
    _check_size(amount)
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
    _check_size(amount)
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
