"""Loaders for api_key_authenticate that read, in the query that authenticates the key, what the request needs next.

Why: every round trip costs a request CPU on both sides (bench/RESULTS.md). GET /api/v1/credits needs the
balance; a generation request needs the key's limits and, for its pre-check, the usable credits. The key rules
stay in accounts.services.api_key_authenticate: only the loader differs. The usable-batch filter and order are
billing.selectors.usable_batches()'s; the tests hold each raw read to the ORM's answer. They run on PostgreSQL
and on the embedded SQLite (which returns naive UTC datetimes).
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from accounts.limits import LIMITS_COLUMNS, LIMITS_JOIN, LIMITS_WIDTH, json_list, limits_from_row
from accounts.models import ApiKey
from accounts.selectors import API_KEY_COLUMNS, API_KEY_TABLES, API_KEY_WIDTH, api_key_from_row, aware
from billing.models import CreditBatch
from billing.selectors import UsableBatch, balance_from_batches

_USABLE = "b.remaining > 0 AND (b.expires_at IS NULL OR b.expires_at > %s)"


@dataclass
class ApiKeyWithBalance:
    """What api_key_authenticate checks of a key (accounts.services.LoadedKey), and its owner's balance.

    Plain values, not model instances: building those cost more than the rest of the request.
    """

    pk: int
    user_id: int
    digest: str
    revoked_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None
    user_is_active: bool
    mode: str
    allowed_ips: list[str]
    balance: dict


# Table names come from the models; a renamed column breaks loudly in the tests.
_API_KEY_WITH_BALANCE_SQL = f"""
    SELECT {API_KEY_COLUMNS}, b.id, b.remaining, b.expires_at, b.source
    {API_KEY_TABLES}
    LEFT JOIN {CreditBatch._meta.db_table} b
           ON b.account_id = k.user_id AND {_USABLE}
    WHERE k.prefix = %s
    ORDER BY b.expires_at ASC NULLS LAST, b.created_at, b.id
"""


def api_key_with_balance(prefix: str, *, now: datetime) -> ApiKeyWithBalance | None:
    """The key with this lookup prefix and its owner's balance, in one query (GET /api/v1/credits).

    Clients poll it: the ORM spent ~10x the CPU of the query itself building the two queries it took.
    """
    with connection.cursor() as cursor:
        cursor.execute(_API_KEY_WITH_BALANCE_SQL, [connection.ops.adapt_datetimefield_value(now), prefix])
        rows = cursor.fetchall()
    if not rows:
        return None
    # API_KEY_COLUMNS' values, then the batch's four (NULL when the user has no usable batch).
    key_id, user_id, digest, revoked_at, expires_at, last_used_at, mode, is_active, account_type, allowed_ips = rows[0][
        :API_KEY_WIDTH
    ]
    batches = [
        UsableBatch(batch_id, remaining, aware(batch_expires_at), source)
        for batch_id, remaining, batch_expires_at, source in (row[API_KEY_WIDTH:] for row in rows)
        if batch_id is not None
    ]
    return ApiKeyWithBalance(
        pk=key_id,
        user_id=user_id,
        digest=digest,
        revoked_at=aware(revoked_at),
        expires_at=aware(expires_at),
        last_used_at=aware(last_used_at),
        user_is_active=bool(is_active),
        mode=mode,
        allowed_ips=json_list(allowed_ips),
        balance=balance_from_batches(account_type, batches),
    )


# The key row, its limits (own and account type's) and the owner's usable credits as last committed.
_API_KEY_FOR_GENERATION_SQL = f"""
    SELECT {API_KEY_COLUMNS}, {LIMITS_COLUMNS},
           (SELECT COALESCE(SUM(b.remaining), 0) FROM {CreditBatch._meta.db_table} b
             WHERE b.account_id = k.user_id AND {_USABLE})
    {API_KEY_TABLES} {LIMITS_JOIN}
    WHERE k.prefix = %s
"""  # noqa: S608 (table names from the models, values as parameters)


def api_key_for_generation(prefix: str, *, now: datetime) -> ApiKey | None:
    """The key with this lookup prefix, as api_key_by_prefix loads it, plus `limits_at_auth` (its EffectiveLimits,
    read by accounts.limits.effective_limits) and `credits_at_auth` (its owner's usable credits, the generation's
    pre-check: billing.services.credits_precheck): two round trips fewer per generation request."""
    with connection.cursor() as cursor:
        cursor.execute(_API_KEY_FOR_GENERATION_SQL, [connection.ops.adapt_datetimefield_value(now), prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    api_key = api_key_from_row(row[:API_KEY_WIDTH])
    api_key.limits_at_auth = limits_from_row(row[API_KEY_WIDTH : API_KEY_WIDTH + LIMITS_WIDTH])
    api_key.credits_at_auth = int(row[API_KEY_WIDTH + LIMITS_WIDTH])
    return api_key
