"""A key's per-minute request rate: a moving window counted atomically in Redis (the `limits` library).

Each generation request of a key with a rate limit takes one entry of a moving window of
API_RATE_LIMIT_WINDOW_SECONDS (60: "per minute"; tests shorten it). The library's Redis moving window is one Lua
script, so N parallel requests can never take more than the limit between them, and every web process shares the
count.

The counts live in API_RATE_LIMIT_STORAGE_URL (REDIS_URL by default; `memory://` without Redis, the embedded
default). While Redis is unreachable, requests are still limited, on a per-process in-memory window: each web
process then allows the limit on its own (the effective limit is multiplied by the number of processes) until
Redis answers again; after a Redis error the limiter stays on memory for REDIS_RETRY_AFTER_SECONDS rather than
paying a connect timeout on every request. A request is never refused because Redis is down.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from limits.strategies import MovingWindowRateLimiter

logger = logging.getLogger(__name__)

KEY_PREFIX = "gih-rate"
REDIS_RETRY_AFTER_SECONDS = 10
REDIS_TIMEOUT_SECONDS = 1

_limiters: dict[str, MovingWindowRateLimiter] = {}
_lock = threading.Lock()
_redis_down_until = 0.0


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


def _memory() -> MovingWindowRateLimiter:
    from limits.storage import MemoryStorage
    from limits.strategies import MovingWindowRateLimiter

    with _lock:
        if "memory" not in _limiters:
            _limiters["memory"] = MovingWindowRateLimiter(MemoryStorage())
        return _limiters["memory"]


def _shared() -> MovingWindowRateLimiter:
    """The limiter on API_RATE_LIMIT_STORAGE_URL, one per URL and process."""
    from limits.storage import RedisStorage, Storage, storage_from_string
    from limits.strategies import MovingWindowRateLimiter
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    url = settings.API_RATE_LIMIT_STORAGE_URL
    with _lock:
        if url not in _limiters:
            if url.startswith(("redis://", "rediss://", "unix://")):
                # Short timeouts, no retries: a generation request must not wait on a dead Redis, and a retried
                # script could count one request twice.
                storage: Storage = RedisStorage(
                    url,
                    key_prefix=KEY_PREFIX,
                    socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                    socket_timeout=REDIS_TIMEOUT_SECONDS,
                    retry=Retry(NoBackoff(), 0),
                )
            else:
                storage = storage_from_string(url)
            _limiters[url] = MovingWindowRateLimiter(storage)
        return _limiters[url]


def _run(work):
    """work(limiter) on the shared storage, or on this process's memory while Redis is unreachable."""
    global _redis_down_until
    if time.monotonic() < _redis_down_until:
        return work(_memory())
    try:
        return work(_shared())
    except Exception as exc:  # redis.RedisError, OSError: whatever the storage raises
        logger.warning("Rate limit storage unavailable, counting in memory for now: %s", exc)
        _redis_down_until = time.monotonic() + REDIS_RETRY_AFTER_SECONDS
        return work(_memory())


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
    return _run(lambda limiter: _window(limiter, item, name, allowed=limiter.hit(item, name)))


def rate_peek(*, key_id: int, limit: int) -> RateWindow:
    """The key's window as it stands, counting nothing (GET /api/v1/key)."""
    item = _item(limit)
    return _run(lambda limiter: _window(limiter, item, str(key_id), allowed=True))


def rate_reset() -> None:
    """Forget every count and any remembered Redis outage (tests)."""
    global _redis_down_until
    _redis_down_until = 0.0
    _memory().storage.reset()
    try:
        _shared().storage.reset()
    except Exception as exc:
        logger.warning("Rate limit storage unavailable, not reset: %s", exc)
