"""CPU-heavy work off the gevent event loop, in real OS threads.

Why: the web and worker processes run gevent, where every request is a greenlet on one
OS thread. A greenlet that computes never yields: a PBKDF2 password hash (hundreds of
milliseconds by design) or checking a multi-megabyte image stalled every other request
in the process (an unauthenticated login flood pushed `/api/v1/credits` p99 from 7 ms
to 2.5 s). Run in a real thread, the work either releases the GIL (OpenSSL's PBKDF2,
Pillow's decoders) or is pre-empted at the interpreter's switch interval, and the loop
keeps serving; the waiting greenlet just yields until the result is ready.

Outside gevent (tests, management commands, runserver) `off_loop` simply calls.
"""

import os
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_pool = None
_pool_pid = None
_pool_lock = threading.Lock()


def gevent_patched() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("threading")


def _threadpool():
    """One pool per process (a forked gunicorn worker builds its own)."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        with _pool_lock:
            if _pool is None or _pool_pid != os.getpid():
                from django.conf import settings
                from gevent.threadpool import ThreadPool

                _pool = ThreadPool(maxsize=settings.OFFLOAD_THREADS)
                _pool_pid = os.getpid()
    return _pool


def _outcome(function: Callable[..., T], args: tuple, kwargs: dict) -> tuple[bool, object]:
    """Run in the pool: the result, or the exception as a value (gevent's pool prints a traceback for every
    exception a task raises, one per refused upload; the caller re-raises it instead)."""
    try:
        return True, function(*args, **kwargs)
    except Exception as error:
        return False, error


def off_loop(function: Callable[..., T], /, *args, **kwargs) -> T:
    """Call `function` in a real thread when gevent runs this process (the greenlet waits); else call it."""
    if not gevent_patched():
        return function(*args, **kwargs)
    succeeded, value = _threadpool().apply(_outcome, (function, args, kwargs))
    if not succeeded:
        raise value
    return value
