"""Every credit movement: grant, adjust, charge, refund, expire; sign-up bonus, redemption, order grant and reversal.

One package, one room per kind of movement: `ledger` (refusals, taking from batches, adding a batch),
`grants` (staff and system grants, adjustments, expiry), `charges` (a generation's charge, pre-check and
refund), `money_in` (sign-up bonus, redemption codes, Checkout orders). Import from `billing.services`.

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

from billing.services.charges import credit_account_lock, credits_charge, credits_precheck, credits_refund
from billing.services.grants import credits_adjust, credits_expire_due, credits_grant
from billing.services.ledger import (
    MAX_CREDITS_PER_MOVEMENT,
    AccountBusy,
    AlreadyCharged,
    InsufficientCredits,
    RefundResult,
    credit_account_get,
    credit_account_set_type,
)
from billing.services.money_in import (
    ACCOUNT_TYPE_RANK,
    OrderGrant,
    RedemptionRefused,
    order_grant,
    order_reverse,
    orders_mark_reviewed,
    redemption_redeem,
    signup_bonus_grant,
)

__all__ = [
    "ACCOUNT_TYPE_RANK",
    "MAX_CREDITS_PER_MOVEMENT",
    "AccountBusy",
    "AlreadyCharged",
    "InsufficientCredits",
    "OrderGrant",
    "RedemptionRefused",
    "RefundResult",
    "credit_account_get",
    "credit_account_lock",
    "credit_account_set_type",
    "credits_adjust",
    "credits_charge",
    "credits_expire_due",
    "credits_grant",
    "credits_precheck",
    "credits_refund",
    "order_grant",
    "order_reverse",
    "orders_mark_reviewed",
    "redemption_redeem",
    "signup_bonus_grant",
]
