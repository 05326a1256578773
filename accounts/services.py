"""Writes for users and API keys."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts import keys
from accounts.models import ApiKey, User

LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    raw_key: str  # shown to the user once, never stored


def user_create(
    *, email: str, password: str | None = None, account_type: str | None = None, is_staff: bool = False
) -> User:
    """Create a user and their credit account in one transaction."""
    from billing.services import credit_account_set_type

    with transaction.atomic():
        user = User.objects.create_user(email=email, password=password, is_staff=is_staff)
        if account_type:
            credit_account_set_type(user=user, account_type=account_type)
    return user


def api_key_create(*, user: User, name: str = "Default", expires_at: datetime | None = None) -> IssuedKey:
    # The prefix is random, so a clash is astronomically rare; retry rather than fail.
    for _ in range(5):
        raw_key = keys.generate_raw_key()
        prefix = keys.lookup_prefix(raw_key)
        if not ApiKey.objects.filter(prefix=prefix).exists():
            break
    api_key = ApiKey.objects.create(
        user=user, name=name or "Default", prefix=prefix, digest=keys.key_digest(raw_key), expires_at=expires_at
    )
    return IssuedKey(api_key=api_key, raw_key=raw_key)


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke once; revoking again keeps the first revocation time."""
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


def api_key_find(*, key_or_prefix: str) -> ApiKey | None:
    """Find a key by its raw value, its display prefix (`gih_live_abcd1234…`) or bare prefix."""
    value = key_or_prefix.strip().rstrip("…").rstrip(".")
    prefix = keys.lookup_prefix(value)
    if prefix is not None:
        api_key = ApiKey.objects.filter(prefix=prefix).first()
        return api_key if api_key and keys.digests_match(value, api_key.digest) else None
    if value.startswith(keys.KEY_PREFIX):
        value = value[len(keys.KEY_PREFIX) :]
    return ApiKey.objects.filter(prefix=value).first() if value else None


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """The active (not revoked) key for a raw bearer value, or None; expiry is the caller's to report.

    Records last use at most once a minute per key, so a busy key is not a hot row.
    """
    prefix = keys.lookup_prefix(raw_key)
    if prefix is None:
        return None
    # The credit account rides along (a LEFT JOIN) so /credits and generations need no extra query for it.
    api_key = ApiKey.objects.select_related("user", "user__credit_account").filter(prefix=prefix).first()
    if api_key is None or not keys.digests_match(raw_key, api_key.digest) or api_key.is_revoked:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or api_key.last_used_at < now - LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
