"""A key's per-minute request rate: a moving window counted atomically in Redis (the `limits` library).

Each generation request of a key with a rate limit takes one entry of a moving window of
API_RATE_LIMIT_WINDOW_SECONDS (60: "per minute"; tests shorten it). The library's Redis moving window is one Lua
script, so N parallel requests can never take more than the limit between them, and every web process shares the
count.

The counts live in API_RATE_LIMIT_STORAGE_URL (REDIS_URL by default; `memory://` without Redis, the embedded
default). While Redis is unreachable, requests are still limited, on a per-process in-memory window: each web
process then allows the limit on its own (the effective limit is multiplied by the number of processes) until
Redis answers again (gih/limits_fallback.py); after a Redis error the limiter stays on memory for a few seconds
rather than paying a connect timeout on every request. A request is never refused because Redis is down.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

from gih.limits_fallback import FallbackLimiter

if TYPE_CHECKING:
    from limits.strategies import MovingWindowRateLimiter


_limiter = FallbackLimiter(
    strategy="MovingWindowRateLimiter",
    storage_setting="API_RATE_LIMIT_STORAGE_URL",
    key_prefix="gih-rate",
    what="Rate limit",
)


@dataclass(frozen=True)
class RateWindow:
    """A key's rate window after (or without) this request: what the x-ratelimit-* headers say."""

    limit: int
    remaining: int
    reset_after: float  # seconds until the oldest counted request leaves the window (a slot frees up)
    allowed: bool = True

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset_after))

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests": str(self.limit),
            "x-ratelimit-remaining-requests": str(self.remaining),
            "x-ratelimit-reset-requests": duration(self.reset_after),
        }


def duration(seconds: float) -> str:
    """OpenAI's spelling of a reset time: 250ms, 7s, 1m0s."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    return f"{whole // 60}m{whole % 60}s" if whole >= 60 else f"{whole}s"


def _window(limiter: MovingWindowRateLimiter, item, key: str, *, allowed: bool) -> RateWindow:
    stats = limiter.get_window_stats(item, key)
    reset_after = max(0.0, stats.reset_time - time.time()) if stats.remaining < item.amount else 0.0
    return RateWindow(limit=item.amount, remaining=stats.remaining, reset_after=reset_after, allowed=allowed)


def _item(limit: int):
    from limits import RateLimitItemPerSecond

    return RateLimitItemPerSecond(limit, settings.API_RATE_LIMIT_WINDOW_SECONDS)


def rate_hit(*, key_id: int, limit: int) -> RateWindow:
    """Count one request of key `key_id` against `limit` per window; `allowed=False` (nothing counted) over it."""
    item = _item(limit)
    name = str(key_id)
    return _limiter.run(lambda limiter: _window(limiter, item, name, allowed=limiter.hit(item, name)))[1]


def rate_peek(*, key_id: int, limit: int) -> RateWindow:
    """The key's window as it stands, counting nothing (GET /api/v1/key)."""
    item = _item(limit)
    return _limiter.run(lambda limiter: _window(limiter, item, str(key_id), allowed=True))[1]


def rate_reset() -> None:
    """Forget every count and any remembered Redis outage (tests)."""
    _limiter.reset()
