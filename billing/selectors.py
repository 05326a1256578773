"""Reads of credits: the balance object the API returns, and the ledger audit."""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import NamedTuple

from django.db import connection
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.selectors import aware
from billing.models import (
    AccountType,
    CheckoutOrder,
    CreditAccount,
    CreditBatch,
    CreditPackage,
    LedgerEntry,
    RedemptionCode,
)

EXPIRING_BATCHES_SHOWN = 10


def usable_batches(account_id: int, now: datetime) -> QuerySet[CreditBatch]:
    """Batches with credits left and not expired, soonest-expiring first, never-expiring last."""
    return (
        CreditBatch.objects.filter(account_id=account_id, remaining__gt=0)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by(F("expires_at").asc(nulls_last=True), "created_at", "id")
    )


def ledger_balance(*, user, now: datetime | None = None) -> int:
    """The balance as the ledger tells it (sum of ledger rows of unexpired batches)."""
    now = now or timezone.now()
    return (
        LedgerEntry.objects.filter(account_id=user.pk)
        .filter(Q(batch__expires_at__isnull=True) | Q(batch__expires_at__gt=now))
        .aggregate(total=Sum("amount"))["total"]
        or 0
    )


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def balance_get(*, user, now: datetime | None = None, batches: list["UsableBatch"] | None = None) -> dict:
    """`{credits, account_type, next_expiration, expiring_batches}` for the user.

    `batches`: the usable batches when the caller read them already (USABLE_BATCHES_ARRAYS_SQL); None reads them.
    """
    try:
        account_type = user.credit_account.account_type  # usually cached by the API key lookup
    except CreditAccount.DoesNotExist:
        account_type = AccountType.FREE.value
    if batches is None:
        batches = usable_batch_rows(user.pk, now or timezone.now())
    return balance_from_batches(account_type, batches)


_USABLE_BATCHES_SQL = """
    SELECT id, remaining, expires_at, source FROM billing_creditbatch
    WHERE account_id = %s AND remaining > 0 AND (expires_at IS NULL OR expires_at > %s)
    ORDER BY expires_at ASC NULLS LAST, created_at, id
"""


# The same rows as four parallel arrays (one row, four typed columns), to ride on a statement that writes anyway
# (the success of a generation: generations/success_statement.py, as `FROM (...) AS usable`), so the balance in
# its answer costs no round trip of its own. Parameters: account id, now. usable_batches_from_arrays() turns
# the row back into UsableBatch rows; a test holds it to usable_batch_rows().
_USABLE_ORDER = "ORDER BY expires_at ASC NULLS LAST, created_at, id"
USABLE_BATCHES_ARRAYS_SQL = (
    f"SELECT array_agg(id {_USABLE_ORDER}), array_agg(remaining {_USABLE_ORDER}), "  # noqa: S608 (no values)
    f"array_agg(expires_at {_USABLE_ORDER}), array_agg(source {_USABLE_ORDER}) "
    "FROM billing_creditbatch WHERE account_id = %s AND remaining > 0 AND (expires_at IS NULL OR expires_at > %s)"
)


def usable_batches_from_arrays(arrays: tuple) -> list["UsableBatch"]:
    """USABLE_BATCHES_ARRAYS_SQL's row as UsableBatch rows, in order (no rows: arrays of None)."""
    ids, remaining, expires, sources = arrays
    return [UsableBatch(*row) for row in zip(ids or (), remaining or (), expires or (), sources or (), strict=True)]


def usable_batch_rows(account_id: int, now: datetime) -> list["UsableBatch"]:
    """usable_batches() read as plain rows, in raw SQL; no lock.

    Why raw SQL: every generation reads them twice (the pre-check before the charge, the
    balance in the answer), and the ORM spent more CPU compiling the query than Postgres
    spent running it (bench/RESULTS.md). The filter and order are usable_batches()'s; a
    test holds the two to the same rows. Runs on PostgreSQL and on the embedded SQLite.
    """
    with connection.cursor() as cursor:
        cursor.execute(_USABLE_BATCHES_SQL, [account_id, connection.ops.adapt_datetimefield_value(now)])
        rows = cursor.fetchall()
    return [UsableBatch(batch_id, left, aware(expires_at), source) for batch_id, left, expires_at, source in rows]


class UsableBatch(NamedTuple):
    id: int
    remaining: int
    expires_at: datetime | None
    source: str


def balance_from_batches(account_type: str | None, batches: list[UsableBatch]) -> dict:
    """The balance object, from the account's usable batches in usable_batches() order."""
    expiring = [batch for batch in batches if batch.expires_at is not None]
    next_expiration = None
    if expiring:
        soonest = expiring[0].expires_at
        next_expiration = {
            "credits": sum(batch.remaining for batch in expiring if batch.expires_at == soonest),
            "expires_at": _iso(soonest),
        }
    return {
        "credits": sum(batch.remaining for batch in batches),
        "account_type": account_type or AccountType.FREE.value,
        "next_expiration": next_expiration,
        "expiring_batches": [
            {"id": batch.id, "credits": batch.remaining, "expires_at": _iso(batch.expires_at), "source": batch.source}
            for batch in expiring[:EXPIRING_BATCHES_SHOWN]
        ],
    }


def batch_payload(batch: CreditBatch) -> dict:
    """A batch as the API shows it (the redemption response)."""
    return {
        "id": batch.pk,
        "credits": batch.amount,
        "remaining": batch.remaining,
        "expires_at": _iso(batch.expires_at) if batch.expires_at else None,
        "source": batch.source,
    }


def balance_summary(balance: dict) -> dict:
    """The `balance` object embedded in generation responses."""
    return {key: balance[key] for key in ("credits", "account_type", "next_expiration")}


@dataclass(frozen=True)
class AuditProblem:
    account_id: int | None  # None: not one account's (a redemption code)
    message: str


def billing_audit() -> list[AuditProblem]:
    """Every broken invariant in the credit tables; an empty list means all is well."""
    problems: list[AuditProblem] = []
    ledger_sums = {
        row["batch_id"]: row["total"] for row in LedgerEntry.objects.values("batch_id").annotate(total=Sum("amount"))
    }
    for batch in CreditBatch.objects.all().iterator():
        total = ledger_sums.get(batch.pk, 0)
        if batch.remaining != total:
            problems.append(
                AuditProblem(
                    batch.account_id, f"batch {batch.pk}: remaining {batch.remaining} but ledger sums to {total}"
                )
            )
        if not 0 <= batch.remaining <= batch.amount:
            problems.append(
                AuditProblem(batch.account_id, f"batch {batch.pk}: remaining {batch.remaining} out of range")
            )
    from generations.models import Generation

    recorded = {
        row["id"]: row
        for row in Generation.objects.filter(Q(credits_charged__gt=0) | Q(ledger__isnull=False))
        .distinct()
        .values("id", "user_id", "credits_charged", "credits_refunded")
    }
    per_generation = (
        LedgerEntry.objects.filter(generation__isnull=False)
        .values("generation_id", "account_id")
        .annotate(
            charged=Sum("amount", filter=Q(kind=LedgerEntry.Kind.CHARGE)),
            refunded=Sum("amount", filter=Q(kind=LedgerEntry.Kind.REFUND)),
            refund_rows=Count("id", filter=Q(kind=LedgerEntry.Kind.REFUND)),
            refund_batches=Count("batch_id", filter=Q(kind=LedgerEntry.Kind.REFUND), distinct=True),
        )
    )
    seen = set()
    for row in per_generation:
        generation_id, account_id = row["generation_id"], row["account_id"]
        seen.add(generation_id)
        charged, refunded = -(row["charged"] or 0), row["refunded"] or 0
        if refunded > charged:
            problems.append(
                AuditProblem(account_id, f"generation {generation_id}: refunded {refunded} > charged {charged}")
            )
        if row["refund_rows"] != row["refund_batches"]:
            problems.append(AuditProblem(account_id, f"generation {generation_id}: refunded twice on one batch"))
        generation = recorded.get(generation_id)
        if generation and (generation["credits_charged"], generation["credits_refunded"]) != (charged, refunded):
            problems.append(AuditProblem(account_id, f"generation {generation_id}: totals differ from its ledger rows"))
    for generation_id, generation in recorded.items():
        if generation_id not in seen:
            problems.append(
                AuditProblem(generation["user_id"], f"generation {generation_id}: charged without ledger rows")
            )
    return problems + _money_in_problems()


def _money_in_problems() -> list[AuditProblem]:
    """Orders and codes against the batches they granted: each paid order one batch of its credits, each use of a
    code one redemption."""
    problems = []
    for batch in CreditBatch.objects.filter(order__isnull=False).select_related("order"):
        order = batch.order
        if (batch.amount, batch.account_id, batch.source) != (order.credits, order.account_id, "purchase"):
            problems.append(AuditProblem(batch.account_id, f"batch {batch.pk}: does not match its order {order.pk}"))
    unpaid = CheckoutOrder.objects.filter(status=CheckoutOrder.Status.PAID, batch__isnull=True)
    problems += [AuditProblem(order.account_id, f"order {order.pk}: paid without a batch") for order in unpaid]
    miscounted = (
        RedemptionCode.objects.annotate(redeemed=Count("redemptions")).exclude(uses=F("redeemed")).order_by("pk")
    )
    problems += [
        AuditProblem(None, f"code {code.prefix}… ({code.pk}): {code.uses} uses but {code.redeemed} redemptions")
        for code in miscounted
    ]
    return problems


def ledger_entries_for_user(
    *, user, kind: str = "", created_from: datetime | None = None, created_before: datetime | None = None
) -> QuerySet[LedgerEntry]:
    """The user's credit movements, newest first, with each entry's batch (for its expiry), optionally filtered."""
    entries = LedgerEntry.objects.filter(account_id=user.pk)
    if kind:
        entries = entries.filter(kind=kind)
    if created_from is not None:
        entries = entries.filter(created_at__gte=created_from)
    if created_before is not None:
        entries = entries.filter(created_at__lt=created_before)
    return entries.select_related("batch").order_by("-created_at", "-id")


def ledger_daily_totals(*, user, since: datetime) -> dict[tuple[date, str], int]:
    """The sum of the user's ledger amounts per (UTC day, kind) from `since`: one grouped query."""
    rows = (
        LedgerEntry.objects.filter(account_id=user.pk, created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "kind")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    return {(row["day"], row["kind"]): row["total"] for row in rows}


def packages_for_sale() -> QuerySet[CreditPackage]:
    return CreditPackage.objects.filter(active=True).order_by("sort_order", "id")


def package_for_sale(*, package_id: int) -> CreditPackage | None:
    return packages_for_sale().filter(pk=package_id).first()


def orders_for_user(*, user) -> QuerySet[CheckoutOrder]:
    """The user's Checkout orders that reached Stripe, newest first."""
    return (
        CheckoutOrder.objects.filter(account_id=user.pk)
        .exclude(status=CheckoutOrder.Status.FAILED)
        .select_related("package")
        .order_by("-created_at", "-id")
    )


def order_for_user_by_session(*, user, session_id: str) -> CheckoutOrder | None:
    if not session_id:
        return None
    return orders_for_user(user=user).filter(stripe_session_id=session_id).first()
