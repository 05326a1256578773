"""Fair share of a web process: one client's flood cannot slow down another client's requests.

Why: a gevent worker runs all its requests on one event loop. When one tenant sent 600 requests
at once (each a cheap 402), or a crowd of log-ins arrived, hundreds of greenlets were runnable
at any moment, and a bystander's `/credits` waited behind all of them at each of its database
round trips: its p99 went from 24 ms to 2.5 s. Here each client may have at most
FAIR_SHARE_CONCURRENCY requests running in a process; its other requests wait, parked (no CPU,
no database connection), up to FAIR_SHARE_WAIT_SECONDS, then get 429 rate_limited with
Retry-After. Another client's request then shares the loop with a few greenlets per client,
not with the whole flood.

Who is a client, cheaply and without letting anyone pose as someone else: a bearer token counts
as its user only once that exact token (a digest of it) has authenticated in this process
(`remember`, called by accounts.services; any rejection `forget`s it), and a session cookie
once Django has resolved it to a signed-in user here (an anonymous answer forgets it). Every
other request counts as its client address (gih.client_ip), so random or stolen-prefix tokens
share one place per address instead of getting one each, and never the victim's; signed-in
users behind one office address do not share theirs.

A request gives its place up while it waits on something that costs no CPU (the provider call
of a sync generation, `Prefer: wait`) and takes it back afterwards (`released`); paid work goes
on even if the place does not come back in time. Limits: the share is per process, and per
address for anonymous traffic; a flood from many addresses needs the proxy's per-address
connection limits (README, Reliability).

Semaphores come from `threading`, which gevent patches: a waiting greenlet yields.
"""

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from prometheus_client import Counter

from gih.client_ip import client_ip_of
from gih.errors import envelope_response

# Answered whatever the load: probes and the scrape must not queue behind a flood.
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_KNOWN_TOKENS_MAX = 10_000
_SESSION = "session:"  # session cookies share the known tokens, in their own namespace
MESSAGE = "Too many of your requests are in progress at once; retry after the others finish."

REFUSED = Counter("gih_fair_share_refused", "Requests refused because their client's share stayed full.", ["kind"])

_lock = threading.Lock()
_shares: dict[str, tuple[threading.BoundedSemaphore, int]] = {}  # client -> (semaphore, holders + waiters)
_known_tokens: dict[bytes, int] = {}  # digest of a bearer token -> its user's id (oldest first)
# The semaphore the running request holds. A context variable, not a threading.local: each greenlet and thread
# has its own context whatever the import order relative to gevent's patching (as the log context in gih/logs.py).
_held: ContextVar[threading.BoundedSemaphore | None] = ContextVar("gih_fair_share_held", default=None)


def _digest(token: str) -> bytes:
    return hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def remember(token: str, user_id: int) -> None:
    """This bearer token authenticated as `user_id`: its requests share that user's place from now on."""
    digest = _digest(token)
    with _lock:
        if digest not in _known_tokens and len(_known_tokens) >= _KNOWN_TOKENS_MAX:
            del _known_tokens[next(iter(_known_tokens))]
        _known_tokens[digest] = user_id


def forget(token: str) -> None:
    """This bearer token was rejected (revoked, expired, wrong address): back to its client address."""
    with _lock:
        _known_tokens.pop(_digest(token), None)


def client_of(meta: dict, cookies: dict | None = None) -> str:
    """`user:<id>` for a bearer token or session already verified in this process, else `ip:<client address>`."""
    parts = meta.get("HTTP_AUTHORIZATION", "").split()
    if len(parts) == 2 and parts[0].lower() == "bearer":
        user_id = _known_tokens.get(_digest(parts[1]))
        if user_id is not None:
            return f"user:{user_id}"
    session = (cookies or {}).get(settings.SESSION_COOKIE_NAME)
    if session:
        user_id = _known_tokens.get(_digest(_SESSION + session))
        if user_id is not None:
            return f"user:{user_id}"
    return f"ip:{client_ip_of(meta)}"


def _learn_session(request) -> None:
    """Remember (or forget) whose session cookie this is, when the request resolved its user anyway."""
    session = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    user = request.__dict__.get("_cached_user")  # set only when something looked: never a query of ours
    if not session or user is None:
        return
    if user.is_authenticated:
        remember(_SESSION + session, user.pk)
    else:
        forget(_SESSION + session)


def _join(client: str) -> threading.BoundedSemaphore:
    with _lock:
        semaphore, users = _shares.get(client) or (threading.BoundedSemaphore(settings.FAIR_SHARE_CONCURRENCY), 0)
        _shares[client] = (semaphore, users + 1)
        return semaphore


def _leave(client: str) -> None:
    with _lock:
        semaphore, users = _shares[client]
        if users == 1:
            del _shares[client]  # idle clients cost nothing
        else:
            _shares[client] = (semaphore, users - 1)


def requests_in_share(client: str) -> int:
    """Running and waiting requests of `client` in this process (0 when idle): for tests."""
    with _lock:
        return _shares.get(client, (None, 0))[1]


class FairShareMiddleware:
    """Early in MIDDLEWARE: a flood waits here before Django spends anything on it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.FAIR_SHARE_CONCURRENCY <= 0 or request.path in EXEMPT_PATHS:
            return self.get_response(request)
        client = client_of(request.META, request.COOKIES)
        semaphore = _join(client)
        try:
            if not semaphore.acquire(timeout=settings.FAIR_SHARE_WAIT_SECONDS):
                REFUSED.labels(kind=client.split(":", 1)[0]).inc()
                return envelope_response(request.path, 429, "rate_limited", MESSAGE, {"Retry-After": "1"})
            _held.set(semaphore)
            try:
                response = self.get_response(request)  # a streamed body runs after this, outside the share
                _learn_session(request)
                return response
            finally:
                held = _held.get()
                _held.set(None)
                if held is not None:
                    held.release()
        finally:
            _leave(client)


@contextmanager
def released() -> Iterator[None]:
    """Give the running request's place up for a wait that costs no CPU; take it back after (bounded).

    Outside a request (a Celery worker, a stream's thread) nothing is held and this does nothing.
    """
    semaphore = _held.get()
    if semaphore is None:
        yield
        return
    _held.set(None)
    semaphore.release()
    try:
        yield
    finally:
        # Paid work goes on either way: without its place if the client's share stays full.
        if semaphore.acquire(timeout=settings.FAIR_SHARE_WAIT_SECONDS):
            _held.set(semaphore)
