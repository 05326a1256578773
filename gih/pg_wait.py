"""psycopg's wait for the server under gevent: one io watcher per wait instead of gevent's poll object.

psycopg runs every statement as a generator that says, step by step, "wait until the socket is readable (or
writable)"; `psycopg.waiting.wait` does that waiting. Under gevent's monkey-patching psycopg picks `wait_poll`,
whose `select.poll()` is gevent's: each wait builds a poll object, a watcher per registered socket, a Timeout
(psycopg wakes every 0.1 s to notice Ctrl-C) and a result list, two or more waits per statement, seven
statements per image (2 % of a web worker's CPU per image, bench/RESULTS.md).

`wait_gevent` parks the greenlet on one io watcher of the hub's loop, with no timer unless the caller set a
deadline (the hub, not a blocking poll, sees signals), then reads the socket's state with the unpatched,
zero-timeout poll (gih/socket_look.py): the same readiness wait_poll reports, a closed socket included.

Installed (gih/apps.py) only where `select` is gevent's: gunicorn's and Celery's gevent workers. psycopg is
pinned in requirements.txt; gih/tests/test_pg_wait.py runs it in a gevent process (statements in parallel
greenlets, large results and parameters, a deadline, a connection killed mid-statement).
"""

import select
from time import monotonic

from gevent import get_hub
from gevent.monkey import get_original, is_module_patched
from gevent.timeout import Timeout
from psycopg import errors, waiting

_poll = get_original("select", "poll")
# libev's (and libuv's) event bits, as gevent's io watchers take them: 1 read, 2 write.
_WATCHER_EVENTS = {waiting.WAIT_R: 1, waiting.WAIT_W: 2, waiting.WAIT_RW: 3}
_POLL_EVENTS = {
    waiting.WAIT_R: select.POLLIN,
    waiting.WAIT_W: select.POLLOUT,
    waiting.WAIT_RW: select.POLLIN | select.POLLOUT,
}
_POLL_BAD = select.POLLERR | select.POLLHUP | select.POLLNVAL


class _DeadlinePassed(Exception):
    pass


def wait_gevent(gen, fileno: int, interval: float = 0.0, timeout: float | None = None):
    """`psycopg.waiting.wait`'s contract: run `gen` to its end, waiting on `fileno` as it asks; its return value.

    `interval` (psycopg's wake-up period for signals) is not needed under gevent; `timeout` bounds the whole
    wait (psycopg's `_WaitTimeout` after it).
    """
    deadline = monotonic() + timeout if timeout is not None else None
    loop = get_hub().loop
    try:
        state = next(gen)
        while True:
            ready = _ready_now(fileno, state)
            if not ready:
                _park(loop, fileno, state, deadline)
                ready = _ready_now(fileno, state)
                if not ready:  # woken without news (a spurious wake-up): wait again
                    continue
            state = gen.send(ready)
    except StopIteration as stop:
        return stop.value


def _park(loop, fileno: int, state, deadline: float | None) -> None:
    """Suspend this greenlet until the socket may be ready as `state` asks (or the deadline passes)."""
    watcher = loop.io(fileno, _WATCHER_EVENTS[state])
    try:
        if deadline is None:
            get_hub().wait(watcher)
            return
        left = deadline - monotonic()
        if left <= 0:
            raise errors._WaitTimeout("wait timeout expired")
        try:
            with Timeout(left, _DeadlinePassed):
                get_hub().wait(watcher)
        except _DeadlinePassed:
            raise errors._WaitTimeout("wait timeout expired") from None
    finally:
        watcher.close()


def _ready_now(fileno: int, state) -> int:
    """What the socket is ready for right now (psycopg's Ready bits), without waiting; 0 for nothing."""
    poller = _poll()
    poller.register(fileno, _POLL_EVENTS[state])
    events = poller.poll(0)
    if not events:
        return waiting.READY_NONE
    flags = events[0][1]
    ready = (waiting.READY_R if flags & select.POLLIN else 0) | (waiting.READY_W if flags & select.POLLOUT else 0)
    if not ready and flags & _POLL_BAD:  # hung up or failed with nothing to read: as psycopg's wait_poll says
        raise errors.OperationalError("connection socket closed")
    return ready


def install_pg_wait() -> None:
    """Once per process (gih/apps.py): psycopg waits through wait_gevent where gevent has patched `select`."""
    if is_module_patched("select"):
        waiting.wait = wait_gevent
