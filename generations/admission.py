"""A key's limits on a generation request, checked before anything is charged.

Order, cheapest first: the model (403 model_not_allowed), the per-minute rate (429 rate_limited, counted in Redis:
accounts/ratelimit.py), then the key's generations in flight (429 concurrency_limit_reached) and its spend this
period (402 spend_limit_reached) as last committed, without a lock. The allowed IPs are checked earlier still, when
the key authenticates (403 ip_not_allowed, accounts.services.api_key_authenticate), on every route.

The unlocked look at concurrency and spend only makes a flood's refusals cheap. The check that counts runs again in
the charge's transaction, under the account's row lock (billing.services.credit_account_lock), right before the
generation row is created: every other submit of the account waits on that lock until this one commits, so two
requests can never both see "one slot left" (20 parallel requests on max_concurrent=2: exactly 2 run).
A refusal anywhere here leaves nothing behind: no generation, no charge.
"""

from dataclasses import dataclass, field

from django.utils import timezone

from accounts.limits import EffectiveLimits, SpendLimit, effective_limits
from accounts.ratelimit import RateWindow, rate_hit, rate_peek
from billing.services import credit_account_lock
from generations.selectors import key_in_flight, key_spent
from generations.validation import GenerationSpec
from gih.errors import ApiError

# How long a client refused for concurrency is asked to wait: a generation takes seconds, not milliseconds.
CONCURRENCY_RETRY_AFTER_SECONDS = 5


class KeyLimitReached(ApiError):
    """A key's own limit refused the request (nothing was charged)."""


@dataclass
class Admission:
    """One request's pass through its key's limits; `rate` is what the x-ratelimit-* headers report."""

    api_key_id: int
    limits: EffectiveLimits
    rate: RateWindow | None = field(default=None)
    # A test key's generations cost nothing, so its spend limit never binds; its other limits apply as for live keys.
    livemode: bool = True

    def rate_window(self) -> RateWindow | None:
        """The key's rate window for the answer's headers: this request's count, or (refused before it was
        counted, e.g. an invalid body) the window as it stands."""
        if self.rate is None and self.limits.rate_limit_per_minute is not None:
            self.rate = rate_peek(key_id=self.api_key_id, limit=self.limits.rate_limit_per_minute)
        return self.rate

    @property
    def needs_lock(self) -> bool:
        return self.limits.max_concurrent is not None or bool(self.limits.spend_limits)

    def admit(self, *, spec: GenerationSpec) -> None:
        """Before any charge: model, rate (counts this request), then concurrency and spend as last committed."""
        limits = self.limits
        if not limits.model_allowed(spec.model.id):
            allowed = ", ".join(sorted(limits.allowed_models or ()))
            raise KeyLimitReached(
                f"This API key may not use the model '{spec.model.id}'; its allowed models: {allowed}.",
                code="model_not_allowed",
                status_code=403,
                param="model",
            )
        if limits.rate_limit_per_minute is not None:
            self.rate = rate_hit(key_id=self.api_key_id, limit=limits.rate_limit_per_minute)
            if not self.rate.allowed:
                raise KeyLimitReached(
                    f"Rate limit reached: this API key allows {limits.rate_limit_per_minute} generation requests "
                    f"per minute. A request slot frees up in {self.rate.retry_after} s (Retry-After).",
                    code="rate_limited",
                    status_code=429,
                    headers={"Retry-After": str(self.rate.retry_after), **self.rate.headers()},
                )
        self._check_in_flight()
        self._check_spend(spec.credits if self.livemode else 0)

    def recheck(self, *, user, spec: GenerationSpec) -> None:
        """Inside the charge's transaction, before the generation row: lock the account, check again exactly."""
        if not self.needs_lock:
            return
        credit_account_lock(user=user)
        self._check_in_flight()
        self._check_spend(spec.credits if self.livemode else 0)

    def _check_in_flight(self) -> None:
        limit = self.limits.max_concurrent
        if limit is None:
            return
        in_flight = key_in_flight(api_key_id=self.api_key_id)
        if in_flight >= limit:
            raise KeyLimitReached(
                f"Concurrency limit reached: this API key allows {limit} generations in flight (queued or "
                f"running) at once and has {in_flight}. Retry when one of them finishes.",
                code="concurrency_limit_reached",
                status_code=429,
                headers={"Retry-After": str(CONCURRENCY_RETRY_AFTER_SECONDS)},
            )

    def _check_spend(self, cost: int) -> None:
        now = timezone.now()
        for spend in self.limits.spend_limits:
            spent = key_spent(api_key_id=self.api_key_id, since=spend.starts_at(now))
            if spent + cost > spend.limit:
                raise KeyLimitReached(
                    _spend_message(spend, spent, cost, now), code="spend_limit_reached", status_code=402
                )


def _spend_message(spend: SpendLimit, spent: int, cost: int, now) -> str:
    period = {"day": "per UTC day", "month": "per UTC month", "total": "in total"}.get(spend.period, spend.period)
    return (
        f"Spend limit reached: this API key may spend {spend.limit} credits {period}; it has spent {spent} and "
        f"this request costs {cost}. Nothing was charged; {spend.resets_phrase(now)}."
    )


def admission_for(api_key) -> Admission | None:
    """The admission of a request made with `api_key` (None for requests without a key: the playground)."""
    if api_key is None:
        return None
    return Admission(api_key_id=api_key.pk, limits=effective_limits(api_key), livemode=api_key.livemode)


def key_summary(api_key) -> dict:
    """GET /api/v1/key: the key, its effective limits and its usage now (this minute, in flight, this period)."""
    limits = effective_limits(api_key)
    now = timezone.now()
    usage: dict = {"requests_this_minute": None, "requests_remaining": None}
    if limits.rate_limit_per_minute is not None:
        window = rate_peek(key_id=api_key.pk, limit=limits.rate_limit_per_minute)
        usage.update(requests_this_minute=window.limit - window.remaining, requests_remaining=window.remaining)
    usage["in_flight"] = key_in_flight(api_key_id=api_key.pk)
    usage["in_flight_remaining"] = (
        max(0, limits.max_concurrent - usage["in_flight"]) if limits.max_concurrent is not None else None
    )
    spend, spent = _binding_spend(limits, api_key.pk, now)
    usage.update(
        spent_this_period=spent,
        spend_remaining=max(0, spend.limit - spent) if spend else None,
        spend_resets_at=_iso(spend.resets_at(now)) if spend else None,
    )
    if spend is None:
        usage["spent_this_period"] = key_spent(api_key_id=api_key.pk, since=None)
    return {
        "object": "api_key",
        "prefix": api_key.display_prefix,
        "name": api_key.name,
        "mode": api_key.mode,
        "limits": {
            "rate_limit_per_minute": limits.rate_limit_per_minute,
            "max_concurrent": limits.max_concurrent,
            "spend_limit": spend.limit if spend else None,
            "spend_period": spend.period if spend else None,
            "allowed_models": sorted(limits.allowed_models) if limits.allowed_models is not None else None,
            "allowed_ips": list(limits.allowed_ips),
        },
        "usage": usage,
    }


def _binding_spend(limits: EffectiveLimits, api_key_id: int, now) -> tuple[SpendLimit | None, int]:
    """Of the key's spend limits, the one with the least left, and what was spent in its period."""
    spends = [(spend, key_spent(api_key_id=api_key_id, since=spend.starts_at(now))) for spend in limits.spend_limits]
    if not spends:
        return None, 0
    return min(spends, key=lambda pair: pair[0].limit - pair[1])


def _iso(moment) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None
