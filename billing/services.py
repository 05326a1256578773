"""Every credit movement: grant, adjust, charge, refund, expire; sign-up bonus, redemption, order grant and reversal.

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
to make credits outlive their batch indefinitely. Nothing goes back to a batch whose
Checkout order was refunded (order_reverse): those credits left with the money.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from billing.locking import lock_account as _lock_account
from billing.models import (
    AccountType,
    CheckoutOrder,
    CreditAccount,
    CreditBatch,
    LedgerEntry,
    Redemption,
    RedemptionCode,
)
from billing.selectors import usable_batches

# The most credits one grant or adjustment may move: far above any real purchase, far below the database's
# integer columns, so a typo (an extra zero or three) is refused with a message instead of failing in SQL.
MAX_CREDITS_PER_MOVEMENT = 1_000_000_000


class InsufficientCredits(Exception):
    def __init__(self, needed: int, available: int):
        self.needed = needed
        self.available = available
        super().__init__(f"The account does not have enough credits: {needed} needed, {available} available.")


class AccountBusy(Exception):
    """The account's lock stayed taken past ACCOUNT_LOCK_TIMEOUT_MS (its other requests hold it): retry shortly."""

    def __init__(self) -> None:
        super().__init__("This account has too many requests in progress; please retry shortly.")


@dataclass(frozen=True)
class RefundResult:
    refunded: int
    already_refunded: bool


def credit_account_get(*, user) -> CreditAccount:
    account, _ = CreditAccount.objects.get_or_create(user=user)
    return account


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


def _check_size(amount: int) -> None:
    if abs(amount) > MAX_CREDITS_PER_MOVEMENT:
        raise ValueError(f"At most {MAX_CREDITS_PER_MOVEMENT:,} credits can be moved at once.")


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


def _add_batch(
    account: CreditAccount,
    amount: int,
    *,
    kind: str,
    source: str,
    expires_at,
    actor,
    note: str,
    now: datetime,
    order: CheckoutOrder | None = None,
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
        order=order,
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
        account = _lock_account_bounded(user.pk)
        if LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.CHARGE).exists():
            raise ValueError(f"Generation {generation.pk} is already charged.")
        _take(account, amount, kind=LedgerEntry.Kind.CHARGE, now=timezone.now(), generation=generation, note=note)
    return amount


def credits_precheck(*, user, amount: int) -> None:
    """Raise InsufficientCredits now if the balance as last committed cannot cover `amount`; reads, never locks.

    Why: callers check before they queue for the account lock (generations.services), so an
    account without credits flooding the API gets cheap 402s instead of holding pooled
    connections waiting on its own row. The charge re-checks under the lock, and that
    check is the one that counts (a concurrent grant may still make this one pessimistic).
    """
    batches = usable_batches(user.pk, timezone.now()).order_by()
    available = batches.aggregate(total=Sum("remaining"))["total"] or 0
    if available < amount:
        raise InsufficientCredits(needed=amount, available=available)


def _lock_account_bounded(user_id: int) -> CreditAccount:
    """The account lock for a charge, waiting at most ACCOUNT_LOCK_TIMEOUT_MS; AccountBusy after that.

    Only charges are bounded: a refund or grant must happen, so it waits its turn. On
    Postgres the limit is `lock_timeout`, local to the transaction.
    """
    if connection.vendor != "postgresql":
        return _lock_account(user_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{settings.ACCOUNT_LOCK_TIMEOUT_MS}ms"])
    try:
        with transaction.atomic():  # a savepoint: the timeout error leaves the caller's transaction usable
            return _lock_account(user_id)
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


# --- Money in: sign-up bonus, redemption codes, Checkout orders ---------------------------
# Each grant below is made exactly once by a unique constraint, not by a check before the
# insert: the batch insert runs in a savepoint and a duplicate fails there (one sign-up bonus
# per account, one redemption per code and account, one batch per order).

ACCOUNT_TYPE_RANK = {AccountType.FREE: 0, AccountType.PRO: 1, AccountType.ENTERPRISE: 2}


def signup_bonus_grant(*, user) -> CreditBatch | None:
    """Grant SIGNUP_BONUS_CREDITS once per user (expiring after SIGNUP_BONUS_EXPIRES_DAYS); None when off or done."""
    amount = settings.SIGNUP_BONUS_CREDITS
    if amount <= 0:
        return None
    now = timezone.now()
    days = settings.SIGNUP_BONUS_EXPIRES_DAYS
    expires_at = now + timedelta(days=days) if days > 0 else None
    with transaction.atomic():
        account = _lock_account(user.pk)
        try:
            with transaction.atomic():
                entry = _add_batch(
                    account, amount, kind=LedgerEntry.Kind.GRANT, source=CreditBatch.Source.SIGNUP_BONUS,
                    expires_at=expires_at, actor=None, note="", now=now,  # the page shows the source, translated
                )
        except IntegrityError:  # one_signup_bonus_per_account
            return None
    return entry.batch


class RedemptionRefused(Exception):
    """`reason` is "invalid" (unknown, used up, expired or revoked: one answer, so codes cannot be probed)
    or "already_redeemed" (this user redeemed this code before)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def redemption_redeem(*, user, code_digest: str) -> Redemption:
    """Redeem the code with this digest (billing.codes.code_digest) for the user: one new batch.

    The use is claimed by one conditional UPDATE (uses < max_uses, valid, not revoked): Postgres
    re-checks the condition on the row a concurrent redemption just committed, so a code with
    N uses left grants exactly N times however many users race for it.
    """
    now = timezone.now()
    with transaction.atomic():
        account = _lock_account(user.pk)
        claimed = (
            RedemptionCode.objects.filter(digest=code_digest, revoked_at__isnull=True, uses__lt=F("max_uses"))
            .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))
            .update(uses=F("uses") + 1)
        )
        if not claimed:
            # Its owner may retry a code they used up themselves; tell them so (no secret in that).
            mine = Redemption.objects.filter(code__digest=code_digest, account=account).exists()
            raise RedemptionRefused("already_redeemed" if mine else "invalid")
        code = RedemptionCode.objects.get(digest=code_digest)
        expires_at = now + timedelta(days=code.credit_expiry_days) if code.credit_expiry_days else None
        try:
            with transaction.atomic():
                entry = _add_batch(
                    account, code.credits, kind=LedgerEntry.Kind.GRANT, source=CreditBatch.Source.REDEMPTION,
                    expires_at=expires_at, actor=None, note=f"{code.prefix}…", now=now,
                )
                redemption = Redemption.objects.create(code=code, account=account, batch=entry.batch, created_at=now)
        except IntegrityError:  # one_redemption_per_code_account; the use claimed above rolls back too
            raise RedemptionRefused("already_redeemed") from None
    return redemption


@dataclass(frozen=True)
class OrderGrant:
    order: CheckoutOrder
    batch: CreditBatch | None
    granted: bool  # False: granted before (a redelivered event), or refunded before it was paid


def order_grant(*, order_id: int, payment_intent: str = "") -> OrderGrant:
    """Credit a paid Checkout order: its batch, once, and the package's account-type upgrade (never a downgrade).

    Called by every delivery of the paid event and by the success page; all but one hit the
    batch's unique order and change nothing. An order refunded before its payment event
    arrived (Stripe does not promise order) is not granted.
    """
    now = timezone.now()
    with transaction.atomic():
        account_id = CheckoutOrder.objects.values_list("account_id", flat=True).get(pk=order_id)
        account = _lock_account(account_id)
        order = CheckoutOrder.objects.get(pk=order_id)  # every status change holds this account lock
        if order.status == CheckoutOrder.Status.REFUNDED:
            return OrderGrant(order=order, batch=None, granted=False)
        expires_at = now + timedelta(days=order.credit_expiry_days) if order.credit_expiry_days else None
        try:
            with transaction.atomic():
                entry = _add_batch(
                    account, order.credits, kind=LedgerEntry.Kind.GRANT, source=CreditBatch.Source.PURCHASE,
                    expires_at=expires_at, actor=None, note="", now=now, order=order,
                )
        except IntegrityError:  # the batch's unique order: granted already
            return OrderGrant(order=order, batch=CreditBatch.objects.get(order=order), granted=False)
        CheckoutOrder.objects.filter(pk=order.pk).update(
            status=CheckoutOrder.Status.PAID, paid_at=now, stripe_payment_intent=payment_intent or ""
        )
        if order.account_type and ACCOUNT_TYPE_RANK[order.account_type] > ACCOUNT_TYPE_RANK[account.account_type]:
            CreditAccount.objects.filter(pk=account.pk).update(account_type=order.account_type)
        order.refresh_from_db()
    return OrderGrant(order=order, batch=entry.batch, granted=True)


def order_reverse(*, order_id: int, note: str = "Payment refunded") -> int:
    """The order's payment was refunded: take back what is left of its batch and flag the order for staff.

    `note` is kept on the order for staff. Returns the credits taken back (0 when already
    reversed). Never below zero: credits already spent stay spent. A generation charged from
    this batch that fails later gets nothing back for that part (credits_refund skips the
    batches of refunded orders): the buyer already has the money back.
    """
    now = timezone.now()
    with transaction.atomic():
        account_id = CheckoutOrder.objects.values_list("account_id", flat=True).get(pk=order_id)
        account = _lock_account(account_id)
        reversed_now = CheckoutOrder.objects.filter(
            pk=order_id, status__in=[CheckoutOrder.Status.PENDING, CheckoutOrder.Status.PAID]
        ).update(status=CheckoutOrder.Status.REFUNDED, refunded_at=now, needs_review=True, review_note=note)
        if not reversed_now:
            return 0
        batch = CreditBatch.objects.select_for_update().filter(order_id=order_id).first()
        if batch is None:  # refunded before it was ever paid for here
            return 0
        taken = batch.remaining
        CreditBatch.objects.filter(pk=batch.pk).update(remaining=0)
        if taken:
            LedgerEntry.objects.create(
                account=account, batch=batch, kind=LedgerEntry.Kind.REVERSE, amount=-taken, created_at=now
            )
        CheckoutOrder.objects.filter(pk=order_id).update(credits_reversed=taken)
    return taken


def orders_mark_reviewed(*, orders) -> int:
    """Staff looked at these flagged orders (a queryset); no credits move."""
    return orders.filter(needs_review=True).update(needs_review=False)
