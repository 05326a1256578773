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
throttle stays on memory for a few seconds (gih/limits_fallback.py) rather than paying a connect timeout
on every log-in.
Identifiers are hashed: no email address or IP is stored in Redis.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpRequest

from gih.client_ip import client_ip
from gih.limits_fallback import FallbackLimiter

if TYPE_CHECKING:
    from limits import RateLimitItemPerSecond
    from limits.strategies import FixedWindowRateLimiter


_limiter = FallbackLimiter(
    strategy="FixedWindowRateLimiter",
    storage_setting="LOGIN_THROTTLE_STORAGE_URL",
    key_prefix="gih-login",
    what="Login throttle",
)


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
        _limiter.run(lambda limiter: _succeed(limiter, self), self.limiter)


def _succeed(limiter: FixedWindowRateLimiter, attempt: LoginAttempt) -> None:
    limiter.clear(*attempt.pair)
    item, key = attempt.address
    if limiter.storage.get(item.key_for(key)) > 0:
        # A negative hit; if the window closed in between, the next window starts one attempt lighter.
        limiter.hit(item, key, cost=-1)


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

    limiter, retry_after = _limiter.run(count)
    return LoginAttempt(limiter=limiter, pair=pair, address=address, retry_after=retry_after)


def login_throttle_reset() -> None:
    """Forget every count and any remembered Redis outage (tests; or staff after a false alarm)."""
    _limiter.reset()
