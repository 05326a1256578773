"""The account lock every credit movement takes first (billing/services/)."""

from billing.models import CreditAccount

# The lock and its bound in one round trip: the CTE runs (setting lock_timeout for the rest of
# the transaction) before any row reaches FOR UPDATE, so the wait on the row is already bounded.
_BOUNDED_LOCK_SQL = (
    "WITH bound AS MATERIALIZED (SELECT set_config('lock_timeout', %s, true)) "
    "SELECT a.user_id, a.account_type, a.created_at FROM billing_creditaccount a, bound "
    "WHERE a.user_id = %s FOR UPDATE OF a"
)


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
    locked = list(CreditAccount.objects.raw(_BOUNDED_LOCK_SQL, [f"{timeout_ms}ms", user_id]))
    return locked[0] if locked else lock_account(user_id)
