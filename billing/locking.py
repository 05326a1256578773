"""The locks every credit movement takes, in this order: the account row, then its usable batches."""

from datetime import datetime
from typing import NamedTuple

from django.db import connection

from billing.models import CreditAccount, CreditBatch, LedgerEntry

# The lock and its bound in one round trip: the CTE runs (setting lock_timeout for the rest of
# the transaction) before any row reaches FOR UPDATE, so the wait on the row is already bounded.
_BOUNDED_LOCK_SQL = (
    "WITH bound AS MATERIALIZED (SELECT set_config('lock_timeout', %s, true)) "
    "SELECT a.user_id, a.account_type, a.created_at FROM billing_creditaccount a, bound "
    "WHERE a.user_id = %s FOR UPDATE OF a"
)
_LOCKED_ACCOUNT_FIELDS = ("user_id", "account_type", "created_at")  # the attnames of the columns it selects


def lock_account(user_id: int) -> CreditAccount:
    """Lock (creating if needed) the user's credit account row; call inside atomic().

    Every user has an account from creation on (billing.signals); the fallback covers a user
    row inserted some other way (raw SQL, fixtures) between the data migration and now.
    """
    try:
        return CreditAccount.objects.select_for_update().get(pk=user_id)
    except CreditAccount.DoesNotExist:
        CreditAccount.objects.get_or_create(user_id=user_id)
        return CreditAccount.objects.select_for_update().get(pk=user_id)


def lock_account_bounded(user_id: int, *, timeout_ms: int) -> CreditAccount:
    """lock_account that waits at most `timeout_ms` (Postgres' lock_timeout, local to the transaction).

    A wait past it raises OperationalError (SQLSTATE 55P03) and leaves the transaction
    aborted: the caller rolls back. The bound stays on for the rest of the transaction.
    """
    # A plain cursor and Model.from_db: the RawQuerySet around the same statement cost more CPU than the row.
    with connection.cursor() as cursor:
        cursor.execute(_BOUNDED_LOCK_SQL, [f"{timeout_ms}ms", user_id])
        row = cursor.fetchone()
    if row is None:
        return lock_account(user_id)
    return CreditAccount.from_db(connection.alias, _LOCKED_ACCOUNT_FIELDS, row)


class LockedBatch(NamedTuple):
    id: int
    remaining: int


# usable_batches()'s filter and order (a test holds the two to the same rows), locked, with whether the given
# generation has a charge already. Raw SQL: every charge runs it, and the ORM spent more CPU compiling the query
# and building the batch instances than the rest of the charge (bench/RESULTS.md). FOR UPDATE locks only the
# batches (the FROM clause), not the ledger rows the EXISTS reads.
_USABLE_BATCHES_LOCKED_SQL = (
    f"SELECT b.id, b.remaining, EXISTS (SELECT 1 FROM {LedgerEntry._meta.db_table} l "  # noqa: S608
    "WHERE l.generation_id = %s AND l.kind = %s) "
    f"FROM {CreditBatch._meta.db_table} b "
    "WHERE b.account_id = %s AND b.remaining > 0 AND (b.expires_at IS NULL OR b.expires_at > %s) "
    "ORDER BY b.expires_at ASC NULLS LAST, b.created_at, b.id"
)


def lock_usable_batches(account_id: int, now: datetime, *, charge_of=None) -> tuple[list[LockedBatch], bool]:
    """The account's usable batches, soonest-expiring first, locked; and whether generation `charge_of` has a charge.

    Call with the account locked (lock_account): the statement starts after that lock was granted, so it sees every
    charge committed by an earlier holder, and every charge of the owner takes it. With no usable batch, no row
    carries the answer: the charged flag is then False (the caller refuses for lack of credits instead).
    """
    sql = _USABLE_BATCHES_LOCKED_SQL + (" FOR UPDATE OF b" if connection.features.has_select_for_update_of else "")
    params = [charge_of, LedgerEntry.Kind.CHARGE, account_id, connection.ops.adapt_datetimefield_value(now)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [LockedBatch(batch_id, remaining) for batch_id, remaining, _ in rows], bool(rows and rows[0][2])


def batch_decrement(batch_id: int, amount: int) -> None:
    """Take `amount` from a batch locked by lock_usable_batches (raw: see there)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {CreditBatch._meta.db_table} SET remaining = remaining - %s WHERE id = %s",  # noqa: S608
            [amount, batch_id],
        )
