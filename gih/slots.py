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

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

from billing.services import AccountBusy
from gih.keyed_semaphores import KeyedSemaphores

_slots = KeyedSemaphores(lambda: settings.ACCOUNT_MAX_CONCURRENT_CHARGES)  # account id -> its charge slots


@contextmanager
def account_slot(account_id: int) -> Iterator[None]:
    """Hold one of the account's charge slots for the block; AccountBusy if none frees up in time.

    A request that has to wait gives its database connection back to the pool first
    (outside a transaction only), so waiting costs no connection.
    """
    semaphore = _slots.join(account_id)
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
        _slots.leave(account_id)


def account_slots_in_use(account_id: int) -> int:
    """Holders and waiters of the account's slots in this process (0 when idle): for tests and metrics."""
    return _slots.users(account_id)
