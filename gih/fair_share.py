"""Fair share of a web process: one client's flood cannot slow down another client's requests.

Why: a gevent worker runs all its requests on one event loop. When one tenant sent 600 requests
at once (each a cheap 402), or a crowd of log-ins arrived, hundreds of greenlets were runnable
at any moment, and a bystander's `/credits` waited behind all of them at each of its database
round trips: its p99 went from 24 ms to 2.5 s. Here each client may have at most
FAIR_SHARE_CONCURRENCY requests running in a process; its other requests wait, parked (no CPU,
no database connection), up to FAIR_SHARE_WAIT_SECONDS, then get 429 rate_limited with
Retry-After. Another client's request then shares the loop with a few greenlets per client, not
with the whole flood. (Refusing at once beyond a number of waiting requests was tried: the flood
came back as fast as it was refused, 63,000 429s in 17 s, and the bystander's p99 went to 355 ms.
Parked, a flood throttles itself.)

Who is a client, cheaply and without letting anyone pose as someone else: a bearer token counts
as its user only once that exact token (a digest of it) has authenticated in this process
(`remember`, called by accounts.services; any rejection `forget`s it), and a session cookie
once Django has resolved it to a signed-in user here (an anonymous answer forgets it). Every
other request counts as its client address (gih.client_ip), so random or stolen-prefix tokens
share one place per address instead of getting one each, and never the victim's; signed-in
users behind one office address do not share theirs.

A request gives its place up while it waits on something that costs no CPU (a remote provider's
call, `Prefer: wait`) and takes it back afterwards (`released`); paid work goes on even if the
place does not come back in time. Work that computes in this process while the place is given up
takes it back for that long (`reclaimed`: the local renderer, so free test-key renders cannot crowd
out other clients). A generation's event stream keeps its place until the stream ends (`carried`):
its generation runs in a thread that inherits the place, so a stream is capped like any request.

Limits: the share is per process, and per address for anonymous traffic and for keys not yet seen
by the process (after a restart, until their first success); a flood from many addresses, or of
more connections than a worker accepts, needs the proxy's per-address limits (README, Reliability).

Semaphores come from `threading`, which gevent patches: a waiting greenlet yields.
"""

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.http import HttpResponse
from prometheus_client import Counter

from gih.client_ip import client_ip_of
from gih.keyed_semaphores import KeyedSemaphores
from gih.openai_errors import is_openai_path

# Answered whatever the load: probes and the scrape must not queue behind a flood.
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_KNOWN_TOKENS_MAX = 100_000  # ~20 MB at most
_SESSION = "session:"  # session cookies share the known tokens, in their own namespace
MESSAGE = "Too many of your requests are in progress at once; retry after the others finish."
RETRY_AFTER = {"Retry-After": "1"}

REFUSED = Counter("gih_fair_share_refused", "Requests refused because their client's share stayed full.", ["kind"])

_lock = threading.Lock()
_shares = KeyedSemaphores(lambda: settings.FAIR_SHARE_CONCURRENCY)  # client -> its places
_known_tokens: OrderedDict[bytes, int] = OrderedDict()  # digest of a token -> its user's id (least recent first)
# The place the running request holds. A context variable, not a threading.local: each greenlet and thread
# has its own context whatever the import order relative to gevent's patching (as the log context in gih/logs.py).
_held: ContextVar["_Place | None"] = ContextVar("gih_fair_share_held", default=None)


def _digest(token: str) -> bytes:
    return hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def remember(token: str, user_id: int) -> None:
    """This bearer token authenticated as `user_id`: its requests share that user's place from now on."""
    digest = _digest(token)
    with _lock:
        _known_tokens[digest] = user_id
        _known_tokens.move_to_end(digest)
        while len(_known_tokens) > _KNOWN_TOKENS_MAX:
            _known_tokens.popitem(last=False)  # the least recently seen: a busy tenant's token stays


def _known_user(token: str) -> int | None:
    digest = _digest(token)
    with _lock:
        user_id = _known_tokens.get(digest)
        if user_id is not None:
            _known_tokens.move_to_end(digest)
        return user_id


def forget(token: str) -> None:
    """This bearer token was rejected (revoked, expired, wrong address): back to its client address."""
    with _lock:
        _known_tokens.pop(_digest(token), None)


def client_of(meta: dict, cookies: dict | None = None) -> str:
    """`user:<id>` for a bearer token or session already verified in this process, else `ip:<client address>`."""
    parts = meta.get("HTTP_AUTHORIZATION", "").split()
    if len(parts) == 2 and parts[0].lower() == "bearer":
        user_id = _known_user(parts[1])
        if user_id is not None:
            return f"user:{user_id}"
    session = (cookies or {}).get(settings.SESSION_COOKIE_NAME)
    if session:
        user_id = _known_user(_SESSION + session)
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


def requests_in_share(client: str) -> int:
    """Running and waiting requests of `client` in this process (0 when idle): for tests."""
    return _shares.users(client)


class _Place:
    """One request's place in its client's share, held from admission until its response is done.

    A generation's event stream outlives the view: the view hands the place over to it (`carried`), its
    generation thread gets it through its copied context, and the stream ends it. `released()` may give it
    up and take it back meanwhile; `finish()` ends it once, whoever is first. Any other response (a page,
    a file sent with sendfile) ends it when the view returns.
    """

    def __init__(self, client: str, semaphore: threading.BoundedSemaphore):
        self.client = client
        self.semaphore = semaphore
        self.held = True
        self.finished = False
        self.handed_over = False
        self._lock = threading.Lock()

    def give_up(self) -> bool:
        with self._lock:
            if not self.held:
                return False
            self.held = False
        self.semaphore.release()
        return True

    def take_back(self) -> None:
        """Bounded: paid work goes on without its place if the client's share stays full."""
        if not self.semaphore.acquire(timeout=settings.FAIR_SHARE_WAIT_SECONDS):
            return
        with self._lock:
            if not self.finished:
                self.held = True
                return
        self.semaphore.release()  # the response ended meanwhile (a client that hung up)

    def finish(self) -> None:
        with self._lock:
            if self.finished:
                return
            self.finished = True
            held, self.held = self.held, False
        if held:
            self.semaphore.release()
        _shares.leave(self.client)


def _refused(request, client: str):
    # Imported here: the local renderer imports this module, and runs where DRF cannot load (the OpenAI stand-in).
    from gih.errors import envelope_response

    REFUSED.labels(kind=client.split(":", 1)[0]).inc()
    if request.path.startswith("/api/") or is_openai_path(request.path):
        response = envelope_response(request.path, 429, "rate_limited", MESSAGE, RETRY_AFTER)
    else:  # a page: the browser shows the sentence, not JSON
        response = HttpResponse(MESSAGE, status=429, content_type="text/plain; charset=utf-8", headers=RETRY_AFTER)
    response["Content-Length"] = str(len(response.content))  # answered before CommonMiddleware would set it
    return response


class _Carried:
    """A streamed body that carries its request's place: set for the thread the stream starts, ended by the stream.

    An object with close(), not a generator: Django and the server call close() even when the body was never
    iterated (a client gone before the first byte), and the place must end then too.
    """

    def __init__(self, content: Iterator[bytes], place: _Place):
        self.content = content
        self.place = place

    def __iter__(self) -> Iterator[bytes]:
        _held.set(self.place)  # iterated by the server after the view returned: the thread copies this context
        try:
            yield from self.content
        finally:
            _held.set(None)
            self.close()

    def close(self) -> None:
        close = getattr(self.content, "close", None)
        if close is not None:
            close()
        self.place.finish()


def carried(content: Iterator[bytes]) -> Iterator[bytes]:
    """Hand the running request's place over to its streamed body (a generation's events); as is outside one."""
    place = _held.get()
    if place is None:
        return content
    place.handed_over = True
    return _Carried(content, place)


class FairShareMiddleware:
    """Early in MIDDLEWARE: a flood waits here before Django spends anything on it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.FAIR_SHARE_CONCURRENCY <= 0 or request.path in EXEMPT_PATHS:
            return self.get_response(request)
        client = client_of(request.META, request.COOKIES)
        semaphore = _shares.join(client)
        if not semaphore.acquire(timeout=settings.FAIR_SHARE_WAIT_SECONDS):
            _shares.leave(client)
            return _refused(request, client)
        place = _Place(client, semaphore)
        token = _held.set(place)
        try:
            response = self.get_response(request)
            _learn_session(request)
        except BaseException:
            place.finish()
            raise
        finally:
            _held.reset(token)
        if not place.handed_over:
            place.finish()
        return response


@contextmanager
def released() -> Iterator[None]:
    """Give the running request's place up for a wait that costs no CPU; take it back after (bounded).

    Outside a request (a Celery worker) nothing is held and this does nothing.
    """
    place = _held.get()
    if place is None or not place.give_up():
        yield
        return
    try:
        yield
    finally:
        place.take_back()


@contextmanager
def reclaimed() -> Iterator[None]:
    """Inside `released()`: hold the place again for work that computes here (the local renderer), bounded."""
    place = _held.get()
    if place is None or place.held or place.finished:
        yield
        return
    place.take_back()
    try:
        yield
    finally:
        place.give_up()
