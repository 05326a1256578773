"""Money in: the sign-up bonus, redemption codes, Checkout orders and their reversal."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
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
from billing.services.ledger import _add_batch

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
                    account,
                    amount,
                    kind=LedgerEntry.Kind.GRANT,
                    source=CreditBatch.Source.SIGNUP_BONUS,
                    expires_at=expires_at,
                    actor=None,
                    note="",
                    now=now,  # the page shows the source, translated
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
                    account,
                    code.credits,
                    kind=LedgerEntry.Kind.GRANT,
                    source=CreditBatch.Source.REDEMPTION,
                    expires_at=expires_at,
                    actor=None,
                    note=f"{code.prefix}…",
                    now=now,
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
                    account,
                    order.credits,
                    kind=LedgerEntry.Kind.GRANT,
                    source=CreditBatch.Source.PURCHASE,
                    expires_at=expires_at,
                    actor=None,
                    note="",
                    now=now,
                    order=order,
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
