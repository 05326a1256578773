"""The fair share of a web process (gih/fair_share.py): one client's flood waits, another client's request does not.

Real threads on the middleware (semaphores from `threading`, as gevent patches them), the real key
authentication for who a client is, and a real gunicorn gevent worker for the whole path. Nothing is
timed: a request the share should let through is joined with a bound that only catches a hang.
"""

import json
import threading
from collections import OrderedDict

import pytest
import requests
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.test import RequestFactory
from rest_framework.test import APIClient

from accounts.services import api_key_create, api_key_revoke
from gih import fair_share
from gih.fair_share import FairShareMiddleware, client_of, requests_in_share
from testsupport.concurrency import run_together

HANG = 30  # seconds: only a gate that wrongly holds a request on ever gets near it


class HeldView:
    """A view that holds every request until `go` is set, and counts how many are inside at once."""

    def __init__(self, *, release_share: bool = False):
        self.go = threading.Event()
        self.release_share = release_share
        self.inside = 0
        self.most_inside = 0
        self._lock = threading.Lock()

    def __call__(self, request):
        with self._lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        try:
            if self.release_share:
                with fair_share.released():
                    self.go.wait(HANG)
            else:
                self.go.wait(HANG)
        finally:
            with self._lock:
                self.inside -= 1
        return HttpResponse("done")


def request_from(address: str, path: str = "/api/v1/credits"):
    return RequestFactory().get(path, REMOTE_ADDR=address)


def in_threads(count: int, call) -> tuple[list[threading.Thread], list]:
    answers: list = [None] * count

    def run(index: int) -> None:
        answers[index] = call()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    return threads, answers


def wait_for(condition, what: str) -> None:
    from generations.tests.conftest import wait_until

    wait_until(condition, timeout=HANG, what=what, interval=0.01)


@pytest.fixture
def share(settings):
    settings.FAIR_SHARE_CONCURRENCY = 2
    settings.FAIR_SHARE_WAIT_SECONDS = HANG
    return settings


def test_a_flooding_client_waits_while_another_client_goes_straight_through(share):
    view = HeldView()
    gate = FairShareMiddleware(view)
    threads, answers = in_threads(6, lambda: gate(request_from("10.0.0.1")))
    wait_for(lambda: requests_in_share("ip:10.0.0.1") == 6 and view.inside == 2, "the flood to fill its share")

    bystander = FairShareMiddleware(lambda request: HttpResponse("bystander"))
    done, answer = in_threads(1, lambda: bystander(request_from("10.0.0.2")))
    done[0].join(HANG)

    assert not done[0].is_alive(), "the bystander waited behind another client's flood"
    assert answer[0].status_code == 200
    assert view.inside == 2  # the flood's other four are still parked
    view.go.set()
    for thread in threads:
        thread.join(HANG)
    assert [response.status_code for response in answers] == [200] * 6
    assert view.most_inside == 2
    assert requests_in_share("ip:10.0.0.1") == 0  # an idle client leaves nothing behind
    assert len(fair_share._shares) == 0


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/api/v1/credits", {"code": "rate_limited"}),
        ("/v1/images/generations", {"code": "rate_limit_exceeded", "type": "rate_limit_error", "param": None}),
    ],
)
def test_a_wait_past_the_bound_is_a_429_in_the_faces_envelope(share, path, error):
    share.FAIR_SHARE_CONCURRENCY = 1
    share.FAIR_SHARE_WAIT_SECONDS = 0.05
    view = HeldView()
    gate = FairShareMiddleware(view)
    threads, _ = in_threads(1, lambda: gate(request_from("10.0.0.3", path)))
    wait_for(lambda: view.inside == 1, "the first request to run")
    try:
        refused = gate(request_from("10.0.0.3", path))
    finally:
        view.go.set()
        threads[0].join(HANG)

    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"
    body = json.loads(refused.content)
    assert body["error"].items() >= {**error, "message": fair_share.MESSAGE}.items()
    assert requests_in_share("ip:10.0.0.3") == 0


@pytest.mark.parametrize("path", sorted(fair_share.EXEMPT_PATHS))
def test_probes_and_the_scrape_never_queue(share, path):
    share.FAIR_SHARE_CONCURRENCY = 1
    view = HeldView()
    gate = FairShareMiddleware(view)
    threads, _ = in_threads(1, lambda: gate(request_from("10.0.0.4")))
    wait_for(lambda: view.inside == 1, "a request to hold the client's only place")
    try:
        probe = FairShareMiddleware(lambda request: HttpResponse("ok"))
        done, answer = in_threads(1, lambda: probe(request_from("10.0.0.4", path)))
        done[0].join(HANG)
        assert not done[0].is_alive() and answer[0].status_code == 200
    finally:
        view.go.set()
        threads[0].join(HANG)


def test_a_request_waiting_without_cpu_gives_its_place_to_the_clients_next_request(share):
    share.FAIR_SHARE_CONCURRENCY = 1
    view = HeldView(release_share=True)  # like a sync generation's provider call, or Prefer: wait
    gate = FairShareMiddleware(view)
    threads, answers = in_threads(3, lambda: gate(request_from("10.0.0.5")))
    wait_for(lambda: view.inside == 3, "all three inside at once, each having given its place up")
    view.go.set()
    for thread in threads:
        thread.join(HANG)

    assert [response.status_code for response in answers] == [200] * 3
    assert requests_in_share("ip:10.0.0.5") == 0


@pytest.mark.django_db(transaction=True)
def test_a_sync_generation_gives_its_place_up_while_the_provider_works(share, make_user, openai_standin, s3_storage):
    from generations.tests.factories import GENERATIONS_URL, api_client_for

    share.FAIR_SHARE_CONCURRENCY = 1
    share.FAIR_SHARE_WAIT_SECONDS = 0.2  # a held place would turn the second request into a 429 at once
    user = make_user(credits=100)
    api = api_client_for(user)
    assert api.get("/api/v1/credits").status_code == 200  # the key is known: both requests are this user
    openai_standin.set_mode("ok", delay=3)
    body = {"model": "gpt-image-2", "prompt": "a slow one", "size": "1024x1024", "quality": "low"}
    threads, answers = in_threads(1, lambda: api.post(GENERATIONS_URL, body, format="json"))
    wait_for(lambda: len(openai_standin.requests) == 1, "the generation to reach the provider")

    meanwhile = api.get("/api/v1/credits")
    threads[0].join(HANG)

    assert meanwhile.status_code == 200, meanwhile.content
    assert answers[0].status_code == 200, answers[0].content
    assert requests_in_share(f"user:{user.pk}") == 0


def test_released_outside_a_request_does_nothing():
    with fair_share.released():
        pass
    assert fair_share._held.get() is None


@pytest.mark.django_db
def test_a_token_counts_as_its_user_only_once_verified_and_until_rejected(share, user):
    issued = api_key_create(user=user, name="fair")
    meta = {"HTTP_AUTHORIZATION": f"Bearer {issued.raw_key}", "REMOTE_ADDR": "10.0.0.6"}
    assert client_of(meta) == "ip:10.0.0.6"  # never seen: its address

    client = APIClient(REMOTE_ADDR="10.0.0.6")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
    assert client.get("/api/v1/credits").status_code == 200
    assert client_of(meta) == f"user:{user.pk}"
    assert client.get("/api/v1/models").status_code == 200  # the DRF views learn it too
    assert client_of(meta) == f"user:{user.pk}"

    # The same lookup prefix with another secret (a stolen prefix) is never the victim's share.
    forged = issued.raw_key[:-4] + ("AAAA" if not issued.raw_key.endswith("AAAA") else "BBBB")
    assert client_of({**meta, "HTTP_AUTHORIZATION": f"Bearer {forged}"}) == "ip:10.0.0.6"

    api_key_revoke(api_key=issued.api_key)
    assert client.get("/api/v1/credits").status_code == 401
    assert client_of(meta) == "ip:10.0.0.6"  # a rejected token is an address again


@pytest.mark.django_db
def test_a_session_counts_as_its_user_once_resolved_and_until_it_is_anonymous(share, user):
    from django.test import Client

    browser = Client(REMOTE_ADDR="10.0.0.8")
    browser.force_login(user)
    cookies = {name: morsel.value for name, morsel in browser.cookies.items()}
    meta = {"REMOTE_ADDR": "10.0.0.8"}
    assert client_of(meta, cookies) == "ip:10.0.0.8"  # never resolved in this process: its address

    assert browser.get("/").status_code == 200  # the dashboard looks at request.user
    assert client_of(meta, cookies) == f"user:{user.pk}"
    forged = {name: value + "x" for name, value in cookies.items()}
    assert client_of(meta, forged) == "ip:10.0.0.8"

    browser.logout()  # the session is gone from the store; the old cookie now resolves to nobody
    stale = Client(REMOTE_ADDR="10.0.0.8")
    stale.cookies.load(cookies)
    stale.get("/")  # the home page looks at request.user: anonymous now
    assert client_of(meta, cookies) == "ip:10.0.0.8"


def test_the_known_tokens_stay_bounded_and_keep_the_busy_ones(monkeypatch):
    monkeypatch.setattr(fair_share, "_KNOWN_TOKENS_MAX", 3)
    monkeypatch.setattr(fair_share, "_known_tokens", OrderedDict())

    def client(token: str) -> str:
        return client_of({"HTTP_AUTHORIZATION": f"Bearer {token}", "REMOTE_ADDR": "10.0.0.7"})

    for number in range(3):
        fair_share.remember(f"token-{number}", number)
    assert client("token-0") == "user:0"  # in use: another tenant's many new keys do not push it out
    fair_share.remember("token-3", 3)
    fair_share.remember("token-4", 4)

    assert len(fair_share._known_tokens) == 3
    assert [client(f"token-{number}") for number in range(5)] == [
        "user:0",
        "ip:10.0.0.7",
        "ip:10.0.0.7",
        "user:3",
        "user:4",
    ]


def test_a_page_is_refused_in_plain_text_with_its_length(share):
    share.FAIR_SHARE_CONCURRENCY = 1
    share.FAIR_SHARE_WAIT_SECONDS = 0.05
    view = HeldView()
    gate = FairShareMiddleware(view)
    threads, _ = in_threads(1, lambda: gate(request_from("10.0.0.9")))
    wait_for(lambda: view.inside == 1, "a request to hold the client's only place")
    try:
        page = gate(request_from("10.0.0.9", "/login/"))
        api = gate(request_from("10.0.0.9"))
    finally:
        view.go.set()
        threads[0].join(HANG)

    assert (page.status_code, page["Content-Type"]) == (429, "text/plain; charset=utf-8")  # a browser shows it
    assert page.content.decode() == fair_share.MESSAGE
    for refused in (page, api):
        assert refused["Content-Length"] == str(len(refused.content))  # answered before CommonMiddleware


def test_a_carried_stream_keeps_its_place_until_it_ends_and_other_streamed_bodies_do_not(share, tmp_path):
    share.FAIR_SHARE_CONCURRENCY = 1
    share.FAIR_SHARE_WAIT_SECONDS = 0.05
    go = threading.Event()

    def events():
        yield b"first"
        go.wait(HANG)
        yield b"last"

    gate = FairShareMiddleware(lambda request: StreamingHttpResponse(fair_share.carried(events())))
    response = gate(request_from("10.0.0.10"))
    assert requests_in_share("ip:10.0.0.10") == 1  # the view returned; the stream holds the place
    content = iter(response.streaming_content)
    assert next(content) == b"first"
    assert gate(request_from("10.0.0.10")).status_code == 429
    go.set()
    assert list(content) == [b"last"]
    response.close()
    assert requests_in_share("ip:10.0.0.10") == 0

    # A stream the server closes before its first byte (the client left) ends its place too.
    unread = gate(request_from("10.0.0.10"))
    unread.close()
    assert requests_in_share("ip:10.0.0.10") == 0

    # A file (sent with sendfile, never iterated here) or any other streamed body ends it when the view returns.
    (tmp_path / "style.css").write_text("body {}")
    files = FairShareMiddleware(lambda request: FileResponse((tmp_path / "style.css").open("rb")))
    for _ in range(3):
        files(request_from("10.0.0.10")).close()
    assert requests_in_share("ip:10.0.0.10") == 0


def test_reclaimed_holds_the_place_again_for_work_that_computes_here(share):
    share.FAIR_SHARE_CONCURRENCY = 1
    share.FAIR_SHARE_WAIT_SECONDS = 0.05
    computing, waiting, done = threading.Event(), threading.Event(), threading.Event()

    def view(request):
        with fair_share.released():
            with fair_share.reclaimed():
                computing.set()
                waiting.wait(HANG)  # stands for the render: the place is held meanwhile
            done.wait(HANG)  # stands for the simulated delay: the place is free
        return HttpResponse("rendered")

    gate = FairShareMiddleware(view)
    other = FairShareMiddleware(lambda request: HttpResponse("ok"))
    threads, answers = in_threads(1, lambda: gate(request_from("10.0.0.11")))
    computing.wait(HANG)
    during_work = other(request_from("10.0.0.11"))
    waiting.set()
    wait_for(lambda: other(request_from("10.0.0.11")).status_code == 200, "the place to be free again")
    done.set()
    threads[0].join(HANG)

    assert during_work.status_code == 429
    assert answers[0].status_code == 200
    assert requests_in_share("ip:10.0.0.11") == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("remote", [False, True], ids=["local renderer", "remote provider"])
def test_a_streamed_generation_holds_its_place_and_gives_it_up_while_waiting(
    share, make_user, openai_standin, s3_storage, remote
):
    from generations.models import Generation
    from generations.tests.factories import api_client_for

    share.FAIR_SHARE_CONCURRENCY = 1
    share.FAIR_SHARE_WAIT_SECONDS = 0.2
    if remote:
        openai_standin.set_mode("ok", delay=3)
    else:
        share.IMAGE_PROVIDER = "local"
        share.LOCAL_PROVIDER_DELAY_SECONDS = 3
    user = make_user(credits=100)
    api = api_client_for(user)
    assert api.get("/api/v1/credits").status_code == 200  # the key is known: both requests are this user
    body = {"model": "gpt-image-2", "prompt": "a stream", "size": "1024x1024", "quality": "low", "stream": True}

    def consume() -> bytes:
        return b"".join(api.post("/v1/images/generations", body, format="json").streaming_content)

    threads, streamed = in_threads(1, consume)
    wait_for(
        lambda: Generation.objects.filter(user=user, status=Generation.Status.RUNNING).exists(),
        "the streamed generation to run",
    )
    meanwhile = api.get("/api/v1/credits")
    threads[0].join(HANG)

    assert meanwhile.status_code == 200, meanwhile.content  # the stream waits (on the provider, or the delay)
    assert b"image_generation.completed" in streamed[0]
    assert requests_in_share(f"user:{user.pk}") == 0


@pytest.mark.django_db(transaction=True)
def test_under_gunicorn_a_tenants_flood_is_refused_while_a_bystander_never_is(tmp_path, make_user, openai_standin):
    """A real gevent worker with one place per client and no wait: the flood overlaps itself, the bystander never;
    and the bystander's sync generation leaves its one place free while the provider works."""
    from generations.models import Generation
    from testsupport.servers import LiveGunicorn, live_hub_env

    hostile = api_key_create(user=make_user(credits=0), name="hostile").raw_key
    bystander_user = make_user(credits=50)
    bystander = api_key_create(user=bystander_user, name="bystander").raw_key
    env = live_hub_env(
        tmp_path,
        IMAGE_PROVIDER="openai",
        OPENAI_BASE_URL=openai_standin.base_url,
        OPENAI_API_KEY=openai_standin.api_key,
        MEDIA_ROOT=str(tmp_path / "media"),
        FAIR_SHARE_CONCURRENCY="1",
        FAIR_SHARE_WAIT_SECONDS="0",
    )
    body = {"model": "gpt-image-2", "prompt": "a flood", "size": "1024x1024", "quality": "low"}
    with LiveGunicorn(env, tmp_path / "gunicorn.log") as web:

        def call(key: str, method: str, path: str, **kwargs) -> requests.Response:
            headers = {"Authorization": f"Bearer {key}"}
            return requests.request(method, f"{web.url}{path}", headers=headers, timeout=HANG, **kwargs)

        # Each key once on its own, so the worker knows both as users before the flood.
        assert call(hostile, "GET", "/api/v1/credits").status_code == 200
        assert call(bystander, "GET", "/api/v1/credits").status_code == 200

        def work(index: int):
            if index == 0:
                return [call(bystander, "GET", "/api/v1/credits") for _ in range(20)]
            return [call(hostile, "POST", "/api/v1/images/generations", json=body) for _ in range(5)]

        results = run_together(25, work, timeout=120)

        openai_standin.set_mode("ok", delay=3)
        generating, generated = in_threads(1, lambda: call(bystander, "POST", "/api/v1/images/generations", json=body))
        wait_for(
            lambda: Generation.objects.filter(user=bystander_user, status=Generation.Status.RUNNING).exists(),
            "the bystander's generation to be at the provider",
        )
        meanwhile = call(bystander, "GET", "/api/v1/credits")
        generating[0].join(HANG)

    for row in results:
        assert isinstance(row, list), (row, web.log())
    assert [response.status_code for response in results[0]] == [200] * 20, web.log()
    flood = [response for row in results[1:] for response in row]
    assert {response.status_code for response in flood} == {402, 429}, [r.status_code for r in flood]
    refused = next(response for response in flood if response.status_code == 429)
    assert refused.json() == {"error": {"message": fair_share.MESSAGE, "code": "rate_limited"}}
    assert refused.headers["Retry-After"] == "1"
    assert meanwhile.status_code == 200, (meanwhile.text, web.log())
    assert generated[0].status_code == 200, (generated[0].text, web.log())
