"""Database writes that must survive a dropped connection (a Postgres restart or failover).

Why: the last write of a generation (succeeded with its images, or failed with its
refund) comes after minutes of paid provider work and stored images. If Postgres
restarted meanwhile, the connection the write gets may be dead, or the server may be
seconds from accepting again; failing there threw the paid work away and answered a bare
500. `retry_on_disconnect` runs such a write as its own transaction and, on a
connection-level error, gives the broken connection back and tries again on a fresh one,
until DB_WRITE_RETRY_SECONDS have passed.

Only for writes that are safe to run twice: the generation transitions are compare-and-set
updates, and a retry after a COMMIT whose answer was lost finds the work already done.
"""

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)

T = TypeVar("T")

# psycopg SQLSTATEs that say "this connection or server is gone", not "your statement failed".
_DISCONNECT_STATES = {"57P01", "57P02", "57P03", "08000", "08003", "08006", "08001", "08004"}


def is_disconnect(error: BaseException) -> bool:
    """Whether a database error means the connection (or the server) went away, so a retry can help."""
    if isinstance(error, InterfaceError):
        return True
    if not isinstance(error, OperationalError):
        return False
    cause = error.__cause__
    state = getattr(cause, "sqlstate", None)
    if state is not None:
        return state in _DISCONNECT_STATES
    # No SQLSTATE: the socket died (closed by the server, reset, pool timeout while reconnecting).
    return True


def retry_on_disconnect(write: Callable[[], T], *, what: str, deadline_seconds: float | None = None) -> T:
    """Run `write()` (which opens its own transaction); retry it on a fresh connection after a disconnect.

    Inside a caller's transaction there is nothing to retry on (the transaction dies with
    its connection), so `write()` then runs once, as it would without this helper.
    """
    if connection.in_atomic_block:
        return write()
    budget = settings.DB_WRITE_RETRY_SECONDS if deadline_seconds is None else deadline_seconds
    deadline = time.monotonic() + budget
    pause = 0.1
    attempt = 1
    while True:
        try:
            return write()
        except (OperationalError, InterfaceError) as error:
            if not is_disconnect(error) or time.monotonic() + pause > deadline:
                raise
            logger.warning("%s: database connection lost (%s); retry %d on a fresh one", what, error, attempt)
        connection.close()  # a broken connection goes back to the pool, which discards it
        time.sleep(pause)
        pause = min(pause * 2, 2.0)
        attempt += 1
