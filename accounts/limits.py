"""A key's effective limits: its own, tightened by its account type's defaults (AccountTypeLimits).

A key can only tighten what staff set for its account type: each numeric limit is the smaller of the two (a blank
one is no limit), the allowed models are the models both allow. A spend limit counts in its own period, so when
the key and its account type both have one, both apply (each `SpendLimit` is checked). Allowed IPs are the key's
own (account types have none).
"""

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime

from accounts.models import AccountTypeLimits, ApiKey, SpendPeriod

KEY_LIMIT_FIELDS = (
    "rate_limit_per_minute",
    "max_concurrent",
    "spend_limit",
    "spend_period",
    "allowed_models",
    "allowed_ips",
)
_TYPE_FIELDS = KEY_LIMIT_FIELDS[:-1]


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


def _smaller(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def effective_limits(api_key: ApiKey) -> EffectiveLimits:
    """The limits enforced for this key now: two small reads (the key's fields, its account type's defaults)."""
    own = ApiKey.objects.filter(pk=api_key.pk).values(*KEY_LIMIT_FIELDS).first() or {}
    account = getattr(api_key.user, "credit_account", None)  # every user has one; a raw-SQL row may not
    account_type = account.account_type if account is not None else None
    default = AccountTypeLimits.objects.filter(account_type=account_type).values(*_TYPE_FIELDS).first() or {}
    spend = tuple(
        dict.fromkeys(
            SpendLimit(limits["spend_limit"], limits["spend_period"])
            for limits in (own, default)
            if limits.get("spend_limit") is not None
        )
    )
    model_lists = [set(limits["allowed_models"]) for limits in (own, default) if limits.get("allowed_models")]
    return EffectiveLimits(
        rate_limit_per_minute=_smaller(own.get("rate_limit_per_minute"), default.get("rate_limit_per_minute")),
        max_concurrent=_smaller(own.get("max_concurrent"), default.get("max_concurrent")),
        spend_limits=spend,
        allowed_models=frozenset(set.intersection(*model_lists)) if model_lists else None,
        allowed_ips=tuple(own.get("allowed_ips") or ()),
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
