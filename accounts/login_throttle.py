"""Log-in throttling for the account area and the admin: atomic counts taken before any password check.

Two fixed windows of LOGIN_THROTTLE_WINDOW_SECONDS, both counted with one atomic Redis INCR (the `limits`
library's fixed window) *before* the password is checked, so N parallel guesses get at most the limit of
checks between them, never "read, check, then write":

- (client address, email): LOGIN_THROTTLE_ATTEMPTS. A successful log-in clears it. Keyed by the address too,
  so a guesser on one address cannot lock the owner out from theirs; the address is the real client's behind
  our trusted proxies (gih.client_ip), not the proxy's, which would make the lock global per email again.
- client address alone: LOGIN_THROTTLE_ADDRESS_ATTEMPTS, so one address cannot try many emails. A successful
  log-in gives its count back, so an office behind one NAT is only held back by failures.

django-axes was considered: it records a failure after the password check (a signal), the race the first
window closes, so it would need the same pre-check counter on top.

The counters live in LOGIN_THROTTLE_STORAGE_URL (REDIS_URL by default). While Redis is unreachable, log-in
keeps working on a per-process in-memory counter (each web process then allows the limit on its own, so the
effective limit is multiplied by the number of processes until Redis is back); after a Redis error the
throttle stays on memory for REDIS_RETRY_AFTER_SECONDS rather than paying a connect timeout on every log-in.
Identifiers are hashed: no email address or IP is stored in Redis.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpRequest

from gih.client_ip import client_ip

if TYPE_CHECKING:
    from limits import RateLimitItemPerSecond
    from limits.strategies import FixedWindowRateLimiter

logger = logging.getLogger(__name__)

KEY_PREFIX = "gih-login"
REDIS_RETRY_AFTER_SECONDS = 10
REDIS_TIMEOUT_SECONDS = 1

_limiters: dict[str, FixedWindowRateLimiter] = {}
_lock = threading.Lock()
_redis_down_until = 0.0


# `limits` (with asyncio and its helpers) is imported on the first log-in, not by every process that loads the
# URLconf (the admin imports the log-in form): API processes and management commands start without it.


def _memory() -> FixedWindowRateLimiter:
    """This process's fallback counter (made on first use: MemoryStorage starts a timer thread)."""
    from limits.storage import MemoryStorage
    from limits.strategies import FixedWindowRateLimiter

    with _lock:
        if "fallback" not in _limiters:
            _limiters["fallback"] = FixedWindowRateLimiter(MemoryStorage())
        return _limiters["fallback"]


def _shared_limiter() -> FixedWindowRateLimiter:
    """The limiter on LOGIN_THROTTLE_STORAGE_URL, one per URL and process (its connection pool is shared)."""
    from limits.storage import RedisStorage, Storage, storage_from_string
    from limits.strategies import FixedWindowRateLimiter
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    url = settings.LOGIN_THROTTLE_STORAGE_URL
    with _lock:
        if url not in _limiters:
            if url.startswith(("redis://", "rediss://", "unix://")):
                # Short timeouts and no retries: a login must not wait on a dead Redis, and a retried
                # INCR could count one attempt twice.
                storage: Storage = RedisStorage(
                    url,
                    key_prefix=KEY_PREFIX,
                    socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                    socket_timeout=REDIS_TIMEOUT_SECONDS,
                    retry=Retry(NoBackoff(), 0),
                )
            else:
                storage = storage_from_string(url)
            _limiters[url] = FixedWindowRateLimiter(storage)
        return _limiters[url]


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


@dataclass
class LoginAttempt:
    """One counted log-in attempt. `retry_after` > 0 means refused: do not check the password."""

    limiter: FixedWindowRateLimiter
    pair: tuple[RateLimitItemPerSecond, str]
    address: tuple[RateLimitItemPerSecond, str]
    retry_after: int = 0

    @property
    def refused(self) -> bool:
        return self.retry_after > 0

    def succeeded(self) -> None:
        """The password was right: forget this pair's failures and give the address its count back."""
        _call(lambda limiter: _succeed(limiter, self), self.limiter)


def _succeed(limiter: FixedWindowRateLimiter, attempt: LoginAttempt) -> None:
    limiter.clear(*attempt.pair)
    item, key = attempt.address
    if limiter.storage.get(item.key_for(key)) > 0:
        # A negative hit; if the window closed in between, the next window starts one attempt lighter.
        limiter.hit(item, key, cost=-1)


def _call(work, limiter: FixedWindowRateLimiter | None = None):
    """Run work(limiter) on the shared storage, or on this process's memory while Redis is unreachable."""
    global _redis_down_until
    fallback = _memory()
    if limiter is None:
        limiter = fallback if time.monotonic() < _redis_down_until else _shared_limiter()
    if limiter is fallback:
        return limiter, work(limiter)
    try:
        return limiter, work(limiter)
    except Exception as exc:  # redis.RedisError, OSError: whatever the storage raises
        logger.warning("Login throttle storage unavailable, counting in memory for now: %s", exc)
        _redis_down_until = time.monotonic() + REDIS_RETRY_AFTER_SECONDS
        return fallback, work(fallback)


def _retry_after(limiter: FixedWindowRateLimiter, item: RateLimitItemPerSecond, key: str) -> int:
    reset_at = limiter.get_window_stats(item, key).reset_time
    return max(1, int(reset_at - time.time() + 0.999))


def login_attempt(*, request: HttpRequest, email: str) -> LoginAttempt:
    """Count one log-in attempt for this client address and email, before the password is checked."""
    from limits import RateLimitItemPerSecond

    window = settings.LOGIN_THROTTLE_WINDOW_SECONDS
    ip = client_ip(request)
    pair = (RateLimitItemPerSecond(settings.LOGIN_THROTTLE_ATTEMPTS, window), _digest("pair", ip, email.lower()))
    address = (RateLimitItemPerSecond(settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS, window), _digest("address", ip))

    def count(limiter: FixedWindowRateLimiter) -> int:
        for item, key in (pair, address):
            # Once the pair is over its limit, further guesses do not also eat the address's allowance.
            if not limiter.hit(item, key):
                return _retry_after(limiter, item, key)
        return 0

    limiter, retry_after = _call(count)
    return LoginAttempt(limiter=limiter, pair=pair, address=address, retry_after=retry_after)


def login_throttle_reset() -> None:
    """Forget every count and any remembered Redis outage (tests; or staff after a false alarm)."""
    global _redis_down_until
    _redis_down_until = 0.0
    _memory().storage.reset()
    try:
        _shared_limiter().storage.reset()
    except Exception as exc:
        logger.warning("Login throttle storage unavailable, not reset: %s", exc)
