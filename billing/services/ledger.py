"""The shared parts of every credit movement: refusals, taking from batches, adding a batch."""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from billing.locking import batch_decrement, lock_usable_batches
from billing.models import (
    AccountType,
    CheckoutOrder,
    CreditAccount,
    CreditBatch,
    LedgerEntry,
)
from gih.sql import column_list, insert_statement, mark_saved, typed_values

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


class AlreadyCharged(ValueError):
    """The generation has a charge already: a second one would take its credits twice."""

    def __init__(self, generation_id) -> None:
        super().__init__(f"Generation {generation_id} is already charged.")


def _take(
    account: CreditAccount,
    amount: int,
    *,
    kind: str,
    now: datetime,
    generation=None,
    actor=None,
    note: str = "",
    insert_generation: bool = False,
) -> list[LedgerEntry]:
    """Take `amount` from usable batches (soonest-expiring first); the account must be locked.

    `insert_generation`: `generation` is unsaved, and is inserted with the ledger rows (_write_takes).

    A charge refuses (AlreadyCharged) a generation that has one. The look rides on the batches' own
    statement (billing.locking.lock_usable_batches): it starts after the account lock was granted, so it
    sees every charge committed by an earlier holder of that lock, and every charge of the generation's
    owner takes that lock.
    """
    charge_of = generation.pk if generation is not None and kind == LedgerEntry.Kind.CHARGE else None
    batches, already_charged = lock_usable_batches(account.pk, now, charge_of=charge_of)
    if already_charged:
        raise AlreadyCharged(generation.pk)
    available = sum(batch.remaining for batch in batches)
    if available < amount:
        raise InsufficientCredits(needed=amount, available=available)
    entries = []
    left = amount
    for batch in batches:
        if left == 0:
            break
        taken = min(left, batch.remaining)
        entries.append(
            LedgerEntry(
                account=account,
                batch_id=batch.id,
                kind=kind,
                amount=-taken,
                generation=generation,
                actor=actor,
                note=note,
                created_at=now,
            )
        )
        left -= taken
    return _write_takes(entries, with_row=generation if insert_generation else None)


def _write_takes(entries: list[LedgerEntry], with_row=None) -> list[LedgerEntry]:
    """Take each entry's credits from its (locked) batch and insert the entries: one statement on PostgreSQL.

    Why one: the account lock is held until COMMIT, and each round trip under it is time every other charge of
    the account waits (the hot-user figure, bench/RESULTS.md). The batch UPDATE and the ledger INSERT go in a
    data-modifying CTE, with the columns and values of the model's own fields (gih/sql.py); a row is inserted
    only for a batch the UPDATE changed. `with_row`: an unsaved row the entries reference (the generation a
    charge pays for), inserted by the same statement. The embedded SQLite has no such CTEs: `with_row`, one
    UPDATE per batch, then the INSERT.
    """
    if connection.vendor != "postgresql" or not entries:
        if with_row is not None:
            with_row.save(force_insert=True)
        for entry in entries:
            batch_decrement(entry.batch_id, -entry.amount)
        return LedgerEntry.objects.bulk_create(entries)
    fields = [field for field in LedgerEntry._meta.concrete_fields if not field.primary_key]
    columns = column_list(fields)
    values, params = typed_values(fields, entries)
    batches, ledger = CreditBatch._meta.db_table, LedgerEntry._meta.db_table
    sql = (
        f"WITH v ({columns}) AS (VALUES {values}), "  # noqa: S608 (names from the models)
        f"taken AS (UPDATE {batches} b SET remaining = b.remaining + v.amount FROM v WHERE b.id = v.batch_id "
        "RETURNING b.id) "
        f"INSERT INTO {ledger} ({columns}) SELECT v.* FROM v JOIN taken ON taken.id = v.batch_id RETURNING id, batch_id"
    )
    if with_row is not None:
        # Its foreign-key checks run at the statement's end, when the row is there.
        row_sql, row_params = insert_statement(with_row)
        sql, params = f"WITH row AS ({row_sql}), {sql[len('WITH '):]}", [*row_params, *params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = {batch_id: entry_id for entry_id, batch_id in cursor.fetchall()}
    if len(ids) != len(entries):  # a batch vanished under its lock: impossible, so refuse loudly (rolls back)
        raise RuntimeError(f"Took from {len(ids)} of {len(entries)} batches; nothing is written.")
    for entry in entries:
        entry.pk = ids[entry.batch_id]
    mark_saved([*entries, *([with_row] if with_row is not None else [])])
    return entries


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
