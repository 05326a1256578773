"""A per-account cap on concurrent charges in one process, so one tenant cannot occupy the pool.

Why: every charge of an account queues on that account's row lock while holding a pooled
database connection. One account sending a thousand requests at once therefore held the
whole pool waiting on its own row, and every other user's request waited for a connection
(another user's `/credits` took 14 s). With a slot taken before the charge's transaction,
at most ACCOUNT_MAX_CONCURRENT_CHARGES connections per process ever wait for one account;
its other requests wait here without a connection, for at most ACCOUNT_SLOT_WAIT_SECONDS,
then get 503 account_busy (Retry-After). Other accounts are untouched.

Semaphores come from `threading`, which gevent patches: a waiting greenlet yields.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

from billing.services import AccountBusy

_lock = threading.Lock()
_slots: dict[int, tuple[threading.BoundedSemaphore, int]] = {}  # account id -> (semaphore, holders + waiters)


def _join(account_id: int) -> threading.BoundedSemaphore:
    with _lock:
        semaphore, users = _slots.get(account_id) or (
            threading.BoundedSemaphore(settings.ACCOUNT_MAX_CONCURRENT_CHARGES),
            0,
        )
        _slots[account_id] = (semaphore, users + 1)
        return semaphore


def _leave(account_id: int) -> None:
    with _lock:
        semaphore, users = _slots[account_id]
        if users == 1:
            del _slots[account_id]  # idle accounts cost nothing
        else:
            _slots[account_id] = (semaphore, users - 1)


@contextmanager
def account_slot(account_id: int) -> Iterator[None]:
    """Hold one of the account's charge slots for the block; AccountBusy if none frees up in time.

    A request that has to wait gives its database connection back to the pool first
    (outside a transaction only), so waiting costs no connection.
    """
    semaphore = _join(account_id)
    try:
        if not semaphore.acquire(blocking=False):
            if not connection.in_atomic_block:
                connection.close()
            if not semaphore.acquire(timeout=settings.ACCOUNT_SLOT_WAIT_SECONDS):
                raise AccountBusy()
        try:
            yield
        finally:
            semaphore.release()
    finally:
        _leave(account_id)


def account_slots_in_use(account_id: int) -> int:
    """Holders and waiters of the account's slots in this process (0 when idle): for tests and metrics."""
    with _lock:
        return _slots.get(account_id, (None, 0))[1]
