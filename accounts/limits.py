"""A key's effective limits: its own, tightened by its account type's defaults (AccountTypeLimits).

A key can only tighten what staff set for its account type: each numeric limit is the smaller of the two (a blank
one is no limit), the allowed models are the models both allow. A spend limit counts in its own period, so when
the key and its account type both have one, both apply (each `SpendLimit` is checked). Allowed IPs are the key's
own (account types have none).
"""

import ipaddress
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection

from accounts.models import AccountTypeLimits, ApiKey, SpendPeriod
from billing.models import CreditAccount

KEY_LIMIT_FIELDS = (
    "rate_limit_per_minute",
    "max_concurrent",
    "spend_limit",
    "spend_period",
    "allowed_models",
    "allowed_ips",
)


@dataclass(frozen=True)
class SpendLimit:
    limit: int
    period: str  # SpendPeriod

    def starts_at(self, now: datetime) -> datetime | None:
        """The start of the current period (UTC calendar), or None for a total limit."""
        now = now.astimezone(UTC)
        if self.period == SpendPeriod.DAY:
            return now.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.period == SpendPeriod.MONTH:
            return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return None

    def resets_at(self, now: datetime) -> datetime | None:
        """When the next period starts (None: a total limit never resets)."""
        start = self.starts_at(now)
        if start is None:
            return None
        if self.period == SpendPeriod.DAY:
            return datetime.fromordinal(start.toordinal() + 1).replace(tzinfo=UTC)
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)

    def resets_phrase(self, now: datetime) -> str:
        reset = self.resets_at(now)
        if reset is None:
            return "it does not reset (a total limit)"
        return f"it resets at {reset.strftime('%Y-%m-%dT%H:%M:%SZ')}"


@dataclass(frozen=True)
class EffectiveLimits:
    rate_limit_per_minute: int | None = None
    max_concurrent: int | None = None
    spend_limits: tuple[SpendLimit, ...] = ()
    allowed_models: frozenset[str] | None = None  # None: every model
    allowed_ips: tuple[str, ...] = ()  # empty: any address

    def model_allowed(self, model_id: str) -> bool:
        return self.allowed_models is None or model_id in self.allowed_models

    def ip_allowed(self, address: str) -> bool:
        return ip_in(address, self.allowed_ips)


def ip_in(address: str, networks) -> bool:
    """Whether `address` is in one of `networks` (IPs or CIDRs, v4 or v6); an empty list allows any address."""
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in ipaddress.ip_network(network, strict=False) for network in networks)


def json_list(value) -> list:
    """A JSON list column read by raw SQL: text on SQLite (and on PostgreSQL through Django's connection)."""
    return json.loads(value) if isinstance(value, str | bytes) else list(value or ())


def _smaller(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


# The key's own limits and its account type's defaults in one round trip (every generation request reads them:
# in the query that authenticates it, billing.api_key_loaders.api_key_for_generation, or in effective_limits below).
LIMITS_COLUMNS = (
    "k.rate_limit_per_minute, k.max_concurrent, k.spend_limit, k.spend_period, k.allowed_models, k.allowed_ips, "
    "t.rate_limit_per_minute, t.max_concurrent, t.spend_limit, t.spend_period, t.allowed_models"
)
LIMITS_WIDTH = LIMITS_COLUMNS.count(",") + 1
LIMITS_JOIN = f"LEFT JOIN {AccountTypeLimits._meta.db_table} t ON t.account_type = a.account_type"
_LIMITS_TABLES = f"FROM {ApiKey._meta.db_table} k LEFT JOIN {CreditAccount._meta.db_table} a ON a.user_id = k.user_id"


def effective_limits(api_key: ApiKey) -> EffectiveLimits:
    """The limits enforced for this key now, read fresh (an edit applies to the key's next request).

    A generation request's key comes with them, read by the query that authenticated it this request
    (`limits_at_auth`); any other key reads them here.
    """
    preloaded = getattr(api_key, "limits_at_auth", None)
    if preloaded is not None:
        return preloaded
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {LIMITS_COLUMNS} {_LIMITS_TABLES} {LIMITS_JOIN} WHERE k.id = %s", [api_key.pk])
        row = cursor.fetchone()
    return limits_from_row(row) if row is not None else EffectiveLimits()


def limits_from_row(row) -> EffectiveLimits:
    """EffectiveLimits from LIMITS_COLUMNS' values."""
    names = ("rate_limit_per_minute", "max_concurrent", "spend_limit", "spend_period", "allowed_models")
    own = dict(zip(names, row[:5], strict=True))
    default = dict(zip(names, row[6:], strict=True))
    spend = tuple(
        dict.fromkeys(
            SpendLimit(limits["spend_limit"], limits["spend_period"])
            for limits in (own, default)
            if limits["spend_limit"] is not None
        )
    )
    # An empty list (or no account type row) allows every model; "[]" is read as text, so parse first.
    parsed = (set(json_list(limits["allowed_models"])) for limits in (own, default))
    model_lists = [models for models in parsed if models]
    return EffectiveLimits(
        rate_limit_per_minute=_smaller(own["rate_limit_per_minute"], default["rate_limit_per_minute"]),
        max_concurrent=_smaller(own["max_concurrent"], default["max_concurrent"]),
        spend_limits=spend,
        allowed_models=frozenset(set.intersection(*model_lists)) if model_lists else None,
        allowed_ips=tuple(json_list(row[5])),
    )


def networks_clean(values) -> list[str]:
    """IPs and CIDRs as their canonical networks (`10.0.0.0/8`, `2001:db8::/32`); ValueError names a bad one."""
    cleaned = []
    for value in values:
        value = str(value).strip()
        if not value:
            continue
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or CIDR range.") from None
        cleaned.append(str(network))
    return cleaned
