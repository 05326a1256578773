"""`limits` counters shared through Redis that fall back to this process's memory while Redis is unreachable.

The log-in throttle and a key's request rate both count *before* they decide, and neither may refuse a
request, or make it wait, because Redis is down. So Redis is used with short timeouts and no retries (a
retried INCR or Lua script could count one request twice); after a Redis error the process counts in memory
for REDIS_RETRY_AFTER_SECONDS rather than paying a connect timeout on every request. Meanwhile each process
allows the limit on its own: the effective limit is multiplied by the number of processes until Redis is back.
`limits` is imported on first use, so processes that never count never load it (nor MemoryStorage's timer).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

REDIS_TIMEOUT_SECONDS = 1
REDIS_RETRY_AFTER_SECONDS = 10


class FallbackLimiter:
    """One `limits` strategy on the storage named by a setting, with this process's memory as the fallback."""

    def __init__(self, *, strategy: str, storage_setting: str, key_prefix: str, what: str) -> None:
        self._strategy = strategy  # a class name in limits.strategies, e.g. "MovingWindowRateLimiter"
        self._storage_setting = storage_setting
        self._key_prefix = key_prefix
        self._what = what
        self._limiters: dict[str | None, Any] = {}
        self._lock = threading.Lock()
        self._redis_down_until = 0.0

    def run(self, work: Callable[[Any], Any], limiter: Any = None) -> tuple[Any, Any]:
        """(limiter, work(limiter)) on the shared storage, or on memory while it is unreachable.

        Pass the `limiter` an earlier call returned to finish on the same counters (e.g. a log-in's success).
        """
        fallback = self.memory()
        if limiter is None:
            limiter = fallback if time.monotonic() < self._redis_down_until else self.shared()
        if limiter is fallback:
            return limiter, work(limiter)
        try:
            return limiter, work(limiter)
        except Exception as exc:  # redis.RedisError, OSError: whatever the storage raises
            logger.warning("%s storage unavailable, counting in memory for now: %s", self._what, exc)
            self._redis_down_until = time.monotonic() + REDIS_RETRY_AFTER_SECONDS
            return fallback, work(fallback)

    def reset(self) -> None:
        """Forget every count and any remembered Redis outage (tests; or staff after a false alarm)."""
        self._redis_down_until = 0.0
        self.memory().storage.reset()
        try:
            self.shared().storage.reset()
        except Exception as exc:
            logger.warning("%s storage unavailable, not reset: %s", self._what, exc)

    def memory(self) -> Any:
        """This process's fallback counters."""
        return self._limiter(None)

    def shared(self) -> Any:
        """The counters on the configured storage, one limiter per URL and process (its connection pool shared)."""
        return self._limiter(getattr(settings, self._storage_setting))

    def _limiter(self, url: str | None) -> Any:
        from limits import strategies

        with self._lock:
            if url not in self._limiters:
                self._limiters[url] = getattr(strategies, self._strategy)(self._storage(url))
            return self._limiters[url]

    def _storage(self, url: str | None) -> Any:
        from limits.storage import MemoryStorage, RedisStorage, storage_from_string
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        if url is None:
            return MemoryStorage()
        if url.startswith(("redis://", "rediss://", "unix://")):
            return RedisStorage(
                url,
                key_prefix=self._key_prefix,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                retry=Retry(NoBackoff(), 0),
            )
        return storage_from_string(url)
