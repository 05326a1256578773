"""Reads of users' API keys: the one-query lookup behind API authentication, and the account area's lists."""

from datetime import UTC, datetime

from django.db import connection
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from accounts.limits import json_list
from accounts.models import ApiKey, User
from billing.models import CreditAccount

# The key (k), its user (u) and their credit account (a), found by lookup prefix. Raw SQL because every
# API request runs it: the ORM spent ~1.8 ms of CPU building and reading the same three-table query
# (bench/RESULTS.md). billing.api_key_loaders extends it for /credits and generation requests.
API_KEY_COLUMNS = (
    "k.id, k.user_id, k.digest, k.revoked_at, k.expires_at, k.last_used_at, k.mode, u.is_active, a.account_type, "
    "k.allowed_ips"
)
API_KEY_WIDTH = API_KEY_COLUMNS.count(",") + 1
API_KEY_TABLES = (
    f"FROM {ApiKey._meta.db_table} k JOIN {User._meta.db_table} u ON u.id = k.user_id "
    f"LEFT JOIN {CreditAccount._meta.db_table} a ON a.user_id = k.user_id"
)


def aware(value: datetime | None) -> datetime | None:
    """A datetime read by raw SQL: PostgreSQL gives it aware, the embedded SQLite naive (in UTC)."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _instance(model: type[Model], **values) -> Model:
    # from_db() takes values in field order; fields not given stay deferred (loaded on first access).
    names = [field.attname for field in model._meta.concrete_fields if field.attname in values]
    return model.from_db(connection.alias, names, [values[name] for name in names])


def api_key_from_row(row) -> ApiKey:
    """An ApiKey with its user and credit account, from API_KEY_COLUMNS' values; other fields load on access."""
    key_id, user_id, digest, revoked_at, expires_at, last_used_at, mode, is_active, account_type, allowed_ips = row
    api_key = _instance(
        ApiKey,
        id=key_id,
        user_id=user_id,
        digest=digest,
        revoked_at=aware(revoked_at),
        expires_at=aware(expires_at),
        last_used_at=aware(last_used_at),
        mode=mode,
        allowed_ips=json_list(allowed_ips),
    )
    api_key.user = _instance(User, id=user_id, is_active=bool(is_active))
    if account_type is not None:
        api_key.user.credit_account = _instance(CreditAccount, user_id=user_id, account_type=account_type)
    return api_key


def api_key_by_prefix(prefix: str) -> ApiKey | None:
    """The key with this lookup prefix, its user and credit account attached, in one query."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {API_KEY_COLUMNS} {API_KEY_TABLES} WHERE k.prefix = %s", [prefix])
        row = cursor.fetchone()
    return api_key_from_row(row) if row is not None else None


def api_keys_for_user(*, user) -> QuerySet[ApiKey]:
    """The user's keys, newest first (revoked and expired ones included)."""
    return ApiKey.objects.filter(user=user).order_by("-created_at", "-id")


def api_key_get_for_user(*, user, key_id: int) -> ApiKey | None:
    """The user's own key, or None: another user's id is indistinguishable from an unknown one."""
    return ApiKey.objects.filter(pk=key_id, user=user).first()


def api_key_latest_usable(*, user) -> ApiKey | None:
    """The newest key that still authenticates, to show its prefix in examples."""
    return (
        api_keys_for_user(user=user)
        .filter(revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .first()
    )


def user_email_taken(*, email: str) -> bool:
    return User.objects.filter(email__iexact=email.strip()).exists()
