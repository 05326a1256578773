"""Redeeming a code as a user does it (web page and API): normalise, throttle failures, redeem.

At most REDEEM_FAILURE_LIMIT failed redemptions per user per window: guessing 60 secret bits
is hopeless anyway, but the limit makes a scripted guesser visible and cheap to stop. Each
attempt reserves a slot in the cache before it runs and gives it back when it succeeds, so
twenty parallel wrong guesses are still at most ten. The counter lives in Django's cache:
Redis in production (shared by all processes), per-process memory in the embedded default.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from billing import codes
from billing.models import Redemption
from billing.services import RedemptionRefused, redemption_redeem

INVALID_CODE_MESSAGE = "This code is not valid: it is unknown, used up or expired."
ALREADY_REDEEMED_MESSAGE = "You have already redeemed this code."


class RedeemFailed(Exception):
    """`code`: invalid_code, already_redeemed or rate_limited (then `retry_after` seconds)."""

    def __init__(self, code: str, message: str, retry_after: int | None = None):
        self.code = code
        self.message = message
        self.retry_after = retry_after
        super().__init__(message)


@dataclass
class FailureWindow:
    user_id: int

    @property
    def count_key(self) -> str:
        return f"billing:redeem-failures:{self.user_id}"

    @property
    def until_key(self) -> str:
        return f"billing:redeem-failures-until:{self.user_id}"

    def reserve(self) -> int | None:
        """Take an attempt slot; None if allowed, else the seconds until the window ends."""
        window = settings.REDEEM_FAILURE_WINDOW_SECONDS
        cache.add(self.until_key, time.time() + window, timeout=window)
        cache.add(self.count_key, 0, timeout=window)
        try:
            count = cache.incr(self.count_key)
        except ValueError:  # the window ended between add and incr
            cache.add(self.count_key, 1, timeout=window)
            count = 1
        if count <= settings.REDEEM_FAILURE_LIMIT:
            return None
        until = cache.get(self.until_key) or time.time() + window
        return max(1, int(until - time.time()) + 1)

    def release(self) -> None:
        """The attempt succeeded: it does not count as a failure."""
        try:
            cache.decr(self.count_key)
        except ValueError:
            pass


def redeem(*, user, raw_code) -> Redemption:
    """Redeem `raw_code` for the user, or RedeemFailed with the public error code and message."""
    window = FailureWindow(user.pk)
    retry_after = window.reserve()
    if retry_after is not None:
        raise RedeemFailed(
            "rate_limited", "Too many failed redemptions. Try again later.", retry_after=retry_after
        )
    body = codes.canonical(raw_code)
    if body is None:
        raise RedeemFailed("invalid_code", INVALID_CODE_MESSAGE)
    try:
        redemption = redemption_redeem(user=user, code_digest=codes.code_digest(body))
    except RedemptionRefused as refused:
        if refused.reason == "already_redeemed":
            raise RedeemFailed("already_redeemed", ALREADY_REDEEMED_MESSAGE) from None
        raise RedeemFailed("invalid_code", INVALID_CODE_MESSAGE) from None
    window.release()
    return redemption
