"""Writes for users and API keys."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from django.apps import apps as django_apps
from django.db import transaction
from django.utils import timezone

from accounts import keys
from accounts.limits import ip_in, networks_clean
from accounts.models import ApiKey, SpendPeriod, User
from accounts.selectors import api_key_by_prefix
from accounts.staff import support_staff_group_ensure
from gih import fair_share
from gih.errors import ApiError
from gih.logs import bind as bind_log_context

LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    raw_key: str  # shown to the user once, never stored


def user_create(
    *,
    email: str,
    password: str | None = None,
    account_type: str | None = None,
    is_staff: bool = False,
    language: str = "",
) -> User:
    """Create a user and their credit account in one transaction.

    A staff user joins the "Support staff" group (accounts/staff.py): an admin login without any permission
    would see nothing at all.
    """
    from billing.services import credit_account_set_type

    with transaction.atomic():
        user = User.objects.create_user(email=email, password=password, is_staff=is_staff, language=language)
        if account_type:
            credit_account_set_type(user=user, account_type=account_type)
        if is_staff:
            user.groups.add(support_staff_group_ensure(apps=django_apps))
    return user


def user_language_set(*, user: User, language: str) -> None:
    """Remember the account area's language for this user, on every device they sign in from."""
    User.objects.filter(pk=user.pk).update(language=language)
    user.language = language


def user_sign_up(*, email: str, password: str, language: str = "") -> User:
    """A visitor's own sign-up: the user, with the sign-up bonus when SIGNUP_BONUS_CREDITS is set."""
    from billing.services import signup_bonus_grant

    with transaction.atomic():
        user = user_create(email=email, password=password, language=language)
        signup_bonus_grant(user=user)
    return user


def api_key_create(
    *,
    user: User,
    name: str = "Default",
    expires_at: datetime | None = None,
    limits: Mapping | None = None,
    mode: str = ApiKey.Mode.LIVE,
) -> IssuedKey:
    """Issue a key; `limits` are its optional own limits (api_key_limits_clean: ValueError names a bad one).

    Mode "test" gives a `gih_test_` key: its generations run on the local renderer and move no credits.
    """
    values = api_key_limits_clean(limits or {})
    # The prefix is random, so a clash is astronomically rare; retry rather than fail.
    for _ in range(5):
        raw_key = keys.generate_raw_key(mode)
        prefix = keys.lookup_prefix(raw_key)
        if not ApiKey.objects.filter(prefix=prefix).exists():
            break
    api_key = ApiKey.objects.create(
        user=user,
        name=name or "Default",
        prefix=prefix,
        digest=keys.key_digest(raw_key),
        expires_at=expires_at,
        mode=mode,
        **values,
    )
    return IssuedKey(api_key=api_key, raw_key=raw_key)


def api_key_limits_clean(limits: Mapping) -> dict:
    """A key's limits as stored: numbers ≥ 0 or None (no limit), a known spend period, model ids, canonical
    networks for the IPs and CIDRs. Fields not given are left out; ValueError says what is wrong."""
    values = {}
    for name in ("rate_limit_per_minute", "max_concurrent", "spend_limit"):
        if name in limits:
            value = limits[name]
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{name}: a whole number of at least 0, or none for no limit.")
            values[name] = value
    if "spend_period" in limits:
        if limits["spend_period"] not in SpendPeriod.values:
            raise ValueError(f"spend_period: one of {', '.join(SpendPeriod.values)}.")
        values["spend_period"] = limits["spend_period"]
    if "allowed_models" in limits:
        values["allowed_models"] = sorted(
            {str(model).strip() for model in limits["allowed_models"] if str(model).strip()}
        )
    if "allowed_ips" in limits:
        values["allowed_ips"] = networks_clean(limits["allowed_ips"])
    return values


def api_key_limits_set(*, api_key: ApiKey, limits: Mapping) -> ApiKey:
    """Change a key's own limits (they take effect on its next request; its account type's defaults still cap them)."""
    values = api_key_limits_clean(limits)
    ApiKey.objects.filter(pk=api_key.pk).update(**values)
    for name, value in values.items():
        setattr(api_key, name, value)
    return api_key


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke once; revoking again keeps the first revocation time."""
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


def api_key_find(*, key_or_prefix: str) -> ApiKey | None:
    """Find a key by its raw value, its display prefix (`gih_live_abcd1234…`, `gih_test_…`) or bare prefix."""
    value = key_or_prefix.strip().rstrip("…").rstrip(".")
    prefix = keys.lookup_prefix(value)
    if prefix is not None:
        api_key = ApiKey.objects.filter(prefix=prefix).first()
        return api_key if api_key and keys.digests_match(value, api_key.digest) else None
    value = keys.strip_marker(value)
    return ApiKey.objects.filter(prefix=value).first() if value else None


class ApiKeyRejected(Exception):
    """A request whose bearer key does not authenticate; `code` is the documented 401 code."""

    def __init__(self, code: str, message: str):
        self.code = code
        self.message = message
        super().__init__(message)


WWW_AUTHENTICATE = 'Bearer realm="api"'  # sent with every 401
MISSING_KEY_MESSAGE = "Missing API key: send 'Authorization: Bearer gih_live_...'."
INVALID_KEY_MESSAGE = "The API key does not exist or has been revoked."
EXPIRED_KEY_MESSAGE = "The API key is expired."


class LoadedKey(Protocol):
    """What authentication reads of a key: an ApiKey, or a row that carries more (see billing.api_key_loaders)."""

    pk: int
    user_id: int
    digest: str
    revoked_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None
    user_is_active: bool
    allowed_ips: list[str]


def bearer_value(authorization: str) -> str:
    """The key in an `Authorization: Bearer <key>` header (any case of "Bearer"), or ApiKeyRejected."""
    parts = authorization.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise ApiKeyRejected("missingApiKey", MISSING_KEY_MESSAGE)
    return parts[1]


KeyT = TypeVar("KeyT", bound=LoadedKey)


def api_key_authenticate(
    *,
    raw_key: str,
    load: Callable[[str], KeyT | None] = api_key_by_prefix,
    now: datetime | None = None,
    client_ip: str | None = None,
) -> KeyT:
    """The key for a raw bearer value, or ApiKeyRejected with the documented code.

    `load(prefix)` fetches the key by its lookup prefix: by default the ApiKey with its user
    and credit account (accounts.selectors.api_key_by_prefix). GET /api/v1/credits passes
    a loader that reads the balance in the same query; the rules below are the same for both.
    Records last use at most once a minute per key, so a busy key is not a hot row. A key with allowed IPs
    works only from them (`client_ip`, the real client's address: gih.client_ip): 403 ip_not_allowed.
    The process's fair share (gih.fair_share) learns whose token it is, and forgets it on any rejection.
    """
    try:
        api_key = _api_key_checked(raw_key=raw_key, load=load, now=now, client_ip=client_ip)
    except (ApiKeyRejected, ApiError):
        fair_share.forget(raw_key)
        raise
    fair_share.remember(raw_key, api_key.user_id)
    return api_key


def _api_key_checked(
    *, raw_key: str, load: Callable[[str], KeyT | None], now: datetime | None, client_ip: str | None
) -> KeyT:
    now = now or timezone.now()
    prefix = keys.lookup_prefix(raw_key)
    api_key = load(prefix) if prefix is not None else None
    if api_key is None or not keys.digests_match(raw_key, api_key.digest) or api_key.revoked_at is not None:
        raise ApiKeyRejected("invalidApiKey", INVALID_KEY_MESSAGE)
    if api_key.expires_at is not None and api_key.expires_at <= now:
        raise ApiKeyRejected("expiredApiKey", EXPIRED_KEY_MESSAGE)
    if not api_key.user_is_active:
        raise ApiKeyRejected("invalidApiKey", INVALID_KEY_MESSAGE)
    bind_log_context(user_id=api_key.user_id, key_prefix=prefix)
    if client_ip is not None and not ip_in(client_ip, api_key.allowed_ips):
        raise ApiError(
            f"This API key is not allowed from {client_ip}: it only works from the allowed IPs set for it "
            "on the API keys page.",
            code="ip_not_allowed",
            status_code=403,
        )
    if api_key.last_used_at is None or api_key.last_used_at < now - LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
