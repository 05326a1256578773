"""Reads of credits: the balance object the API returns, and the ledger audit."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from billing.models import AccountType, CreditAccount, CreditBatch, LedgerEntry
from billing.services import usable_batches

EXPIRING_BATCHES_SHOWN = 10


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def balance_get(*, user, now: datetime | None = None) -> dict:
    """`{credits, account_type, next_expiration, expiring_batches}` for the user."""
    now = now or timezone.now()
    try:
        account_type = user.credit_account.account_type  # usually cached by the API key lookup
    except CreditAccount.DoesNotExist:
        account_type = AccountType.FREE.value
    batches = list(usable_batches(user.pk, now).only("id", "remaining", "expires_at", "source"))
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
        "account_type": account_type,
        "next_expiration": next_expiration,
        "expiring_batches": [
            {"id": batch.pk, "credits": batch.remaining, "expires_at": _iso(batch.expires_at), "source": batch.source}
            for batch in expiring[:EXPIRING_BATCHES_SHOWN]
        ],
    }


def balance_summary(balance: dict) -> dict:
    """The `balance` object embedded in generation responses."""
    return {key: balance[key] for key in ("credits", "account_type", "next_expiration")}


@dataclass(frozen=True)
class AuditProblem:
    account_id: int
    message: str


def billing_audit() -> list[AuditProblem]:
    """Every broken invariant in the credit tables; an empty list means all is well."""
    problems: list[AuditProblem] = []
    ledger_sums = {
        row["batch_id"]: row["total"]
        for row in LedgerEntry.objects.values("batch_id").annotate(total=Sum("amount"))
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
    return problems


def ledger_entries_for_user(*, user) -> QuerySet[LedgerEntry]:
    """The user's credit movements, newest first, with each entry's batch (for its expiry)."""
    return LedgerEntry.objects.filter(account_id=user.pk).select_related("batch").order_by("-created_at", "-id")
