"""Whether a socket has anything to say right now, without a gevent hub round.

Used where a pooled connection is looked at before it is handed out again (gih/pool_check.py for
Postgres, gih/http_pool_check.py for HTTP). An idle kept-alive connection has nothing to read; one
the other side closed (or sent an error on) turns readable. Under gevent's monkey-patching,
`select.poll` is gevent's, which registers a watcher and switches to the hub and back even for a
zero timeout. A zero timeout never blocks, so the unpatched poll answers the same, at once.
"""

import select

from gevent.monkey import get_original

_poll = get_original("select", "poll")
_ANYTHING = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP


def socket_quiet(fileno: int) -> bool:
    """True when nothing is waiting on the socket: no data, no close, no error. Never blocks."""
    poller = _poll()
    poller.register(fileno, _ANYTHING)
    return not poller.poll(0)
