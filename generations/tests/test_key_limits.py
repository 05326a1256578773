"""A key's own limits through HTTP, on both faces: what each refusal says, that it charges nothing, and its reset."""

import pytest
from rest_framework.test import APIClient

from accounts.models import AccountTypeLimits
from accounts.services import api_key_create
from billing.models import LedgerEntry
from billing.selectors import balance_get, billing_audit
from generations.failures import FailureCode
from generations.models import Generation
from generations.tests.conftest import wait_until
from generations.transitions import generation_fail

pytestmark = pytest.mark.usefixtures("media_cleanup")

BODY = {"model": "gpt-image-2", "prompt": "A lighthouse", "aspect_ratio": "1:1", "quality": "1K"}  # 1 credit
OPENAI_BODY = {"model": "gpt-image-2", "prompt": "A lighthouse", "size": "1024x1024", "quality": "low"}
URLS = {"api": "/api/v1/images/generations", "openai": "/v1/images/generations"}
PROXY = "10.0.0.2"


def client_for(user, **limits) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=user, limits=limits).raw_key}")
    return client


def generate(client: APIClient, face: str = "api", **extra):
    body = {**(OPENAI_BODY if face == "openai" else BODY), **extra.pop("body", {})}
    return client.post(URLS[face], body, format="json", **extra)


def error_of(response) -> dict:
    return response.json()["error"]


def charges() -> int:
    return LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE).count()


@pytest.mark.django_db
@pytest.mark.parametrize("face", ["api", "openai"])
def test_it_refuses_the_request_over_the_rate_with_429_and_lets_it_through_after_the_window(settings, user, face):
    # The "minute", shortened so the test sees it pass; long enough for two generations on a loaded machine.
    settings.API_RATE_LIMIT_WINDOW_SECONDS = WINDOW = 8
    client = client_for(user, rate_limit_per_minute=2)
    # /api/v1 asks for async answers (queued, no worker here: quick); /v1 has no async, so it renders.
    extra, accepted = ({"body": {"async": True}}, 202) if face == "api" else ({}, 200)

    first, second = generate(client, face, **extra), generate(client, face, **extra)
    refused = generate(client, face, **extra)

    assert (first.status_code, second.status_code) == (accepted, accepted)
    assert first["x-ratelimit-limit-requests"] == "2"
    assert (first["x-ratelimit-remaining-requests"], second["x-ratelimit-remaining-requests"]) == ("1", "0")
    assert second["x-ratelimit-reset-requests"].endswith(("ms", "s"))
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= WINDOW
    assert refused["x-ratelimit-remaining-requests"] == "0"
    error = error_of(refused)
    assert "2 generation requests per minute" in error["message"]
    if face == "openai":
        assert (error["type"], error["code"], error["param"]) == ("rate_limit_error", "rate_limit_exceeded", None)
    else:
        assert error["code"] == "rate_limited"
    assert Generation.objects.count() == 2 and charges() == 2  # the refused request charged nothing
    assert balance_get(user=user)["credits"] == 98

    wait_until(
        lambda: generate(client, face, **extra).status_code == accepted,
        timeout=3 * WINDOW,
        what="the window to move on",
        interval=0.5,
    )
    assert charges() == 3


@pytest.mark.django_db
def test_it_sends_no_rate_headers_for_a_key_without_a_rate_limit(api):
    response = generate(api)

    assert response.status_code == 200
    assert "x-ratelimit-limit-requests" not in response


@pytest.mark.django_db
def test_the_rate_headers_are_on_every_generation_response_also_refusals_for_credits(settings, make_user):
    poor = make_user(credits=0)
    response = generate(client_for(poor, rate_limit_per_minute=5))

    assert response.status_code == 402
    assert (response["x-ratelimit-limit-requests"], response["x-ratelimit-remaining-requests"]) == ("5", "4")


@pytest.mark.django_db
@pytest.mark.parametrize("face", ["api", "openai"])
def test_an_invalid_request_carries_the_rate_headers_without_using_up_a_request(user, face):
    client = client_for(user, rate_limit_per_minute=5)

    response = generate(client, face, body={"n": 9})

    assert response.status_code == 400
    assert (response["x-ratelimit-limit-requests"], response["x-ratelimit-remaining-requests"]) == ("5", "5")
    assert generate(client, face)["x-ratelimit-remaining-requests"] == "4"


@pytest.mark.django_db
@pytest.mark.parametrize("storage", ["redis://127.0.0.1:1/0", "memory://"])
def test_it_still_limits_the_rate_in_memory_when_redis_is_down_or_absent(settings, user, storage):
    """Redis down (nothing listens on port 1) or no Redis at all: served, and limited per process."""
    settings.API_RATE_LIMIT_STORAGE_URL = storage
    client = client_for(user, rate_limit_per_minute=1)

    assert generate(client).status_code == 200
    refused = generate(client)

    assert refused.status_code == 429
    assert error_of(refused)["code"] == "rate_limited"


@pytest.mark.django_db
def test_a_key_can_only_tighten_its_account_types_defaults(user):
    AccountTypeLimits.objects.create(account_type="PRO", rate_limit_per_minute=1)
    looser, tighter = client_for(user, rate_limit_per_minute=10), client_for(user, max_concurrent=0)

    assert generate(looser)["x-ratelimit-limit-requests"] == "1"
    assert generate(looser).status_code == 429
    refused = generate(tighter)  # its own limit applies on top of the default one
    assert (refused.status_code, error_of(refused)["code"]) == (429, "concurrency_limit_reached")


@pytest.mark.django_db
def test_the_account_types_allowed_models_apply_to_a_key_without_its_own(user):
    AccountTypeLimits.objects.create(account_type="PRO", allowed_models=["gpt-image-1"])

    refused = generate(client_for(user))

    assert (refused.status_code, error_of(refused)["code"]) == (403, "model_not_allowed")
    AccountTypeLimits.objects.filter(account_type="PRO").update(allowed_models=["gpt-image-1", "gpt-image-2"])
    assert generate(client_for(user, allowed_models=["gpt-image-2"])).status_code == 200
    assert generate(client_for(user, allowed_models=["gpt-image-1"])).status_code == 403  # both must allow it


@pytest.mark.django_db
def test_it_refuses_a_generation_over_the_spend_limit_until_a_refund_frees_it(user):
    client = client_for(user, spend_limit=2, spend_period="day")
    queued = generate(client, body={"async": True})
    assert queued.status_code == 202  # charged 1, stays queued: no worker in this test
    assert generate(client).status_code == 200

    refused = generate(client)

    assert refused.status_code == 402
    error = error_of(refused)
    assert error["code"] == "spend_limit_reached"
    assert "2 credits per UTC day" in error["message"] and "it resets at" in error["message"]
    assert "Retry-After" not in refused
    assert charges() == 2 and balance_get(user=user)["credits"] == 98

    generation_fail(generation_id=queued.json()["id"], error_code=FailureCode.PROVIDER_UNAVAILABLE, error_message="x")

    assert generate(client).status_code == 200
    assert billing_audit() == []


@pytest.mark.django_db
def test_it_answers_spend_limit_reached_in_openais_shape_on_v1(user):
    client = client_for(user, spend_limit=0, spend_period="total")

    response = generate(client, "openai")

    assert response.status_code == 402
    error = error_of(response)
    assert (error["type"], error["code"]) == ("insufficient_quota", "spend_limit_reached")
    assert "does not reset" in error["message"]
    assert response["x-should-retry"] == "false"
    assert charges() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("face", ["api", "openai"])
def test_it_refuses_a_model_the_key_does_not_allow_with_403(user, face):
    client = client_for(user, allowed_models=["gpt-image-1"])

    response = generate(client, face)

    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "model_not_allowed"
    assert "'gpt-image-2'" in error["message"] and "gpt-image-1" in error["message"]
    if face == "openai":
        assert (error["type"], error["param"]) == ("permission_error", "model")
    assert Generation.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("203.0.113.9", True),
        ("198.51.100.1", False),
        ("2001:db8:1::5", True),
        ("2001:db9::5", False),
    ],
)
def test_it_takes_the_client_address_behind_our_proxy_for_the_allowed_ips(settings, user, address, allowed):
    settings.TRUSTED_PROXY_COUNT = 1
    client = client_for(user, allowed_ips=["203.0.113.0/24", "2001:db8::/32"])

    # A client cannot pretend: what it puts in front of the header is not read, only what our proxy appended.
    response = generate(client, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"203.0.113.1, {address}")

    if allowed:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert error_of(response)["code"] == "ip_not_allowed"
        assert address in error_of(response)["message"]
        assert Generation.objects.count() == 0


@pytest.mark.django_db
def test_an_ip_restricted_key_reads_nothing_from_elsewhere_either(settings, user):
    client = client_for(user, allowed_ips=["192.0.2.1"])

    for path in ("/api/v1/credits", "/api/v1/key"):
        response = client.get(path, REMOTE_ADDR="198.51.100.1")
        assert (response.status_code, error_of(response)["code"]) == (403, "ip_not_allowed")
    assert client.get("/api/v1/credits", REMOTE_ADDR="192.0.2.1").status_code == 200


@pytest.mark.django_db
def test_get_key_shows_its_limits_and_usage(settings, user):
    issued = api_key_create(
        user=user, name="shop", limits={"rate_limit_per_minute": 10, "max_concurrent": 3, "spend_limit": 50}
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
    assert generate(client).status_code == 200
    assert generate(client, body={"async": True}).status_code == 202

    body = client.get("/api/v1/key").json()

    assert body["object"] == "api_key"
    assert (body["prefix"], body["name"], body["mode"]) == (issued.api_key.display_prefix, "shop", "live")
    assert body["limits"] == {
        "rate_limit_per_minute": 10,
        "max_concurrent": 3,
        "spend_limit": 50,
        "spend_period": "month",
        "allowed_models": None,
        "allowed_ips": [],
    }
    usage = body["usage"]
    assert (usage["requests_this_minute"], usage["requests_remaining"]) == (2, 8)
    assert (usage["in_flight"], usage["in_flight_remaining"]) == (1, 2)
    assert (usage["spent_this_period"], usage["spend_remaining"]) == (2, 48)
    assert usage["spend_resets_at"].endswith("-01T00:00:00Z")


@pytest.mark.django_db
def test_get_key_of_an_unlimited_key_says_so(api):
    body = api.get("/api/v1/key").json()

    assert body["limits"] == {
        "rate_limit_per_minute": None,
        "max_concurrent": None,
        "spend_limit": None,
        "spend_period": None,
        "allowed_models": None,
        "allowed_ips": [],
    }
    assert body["usage"]["requests_this_minute"] is None
    assert body["usage"]["spend_remaining"] is None


@pytest.mark.django_db(transaction=True)
def test_exactly_max_concurrent_of_20_parallel_requests_get_through(settings, make_user, empty_queue):
    """Postgres, 20 threads at once on a key with max_concurrent=2: the check under the account lock is exact."""
    from testsupport.concurrency import run_together

    # Generous "eventually" bounds: every request must reach the lock rather than give up waiting for it.
    settings.ACCOUNT_SLOT_WAIT_SECONDS = 60
    settings.ACCOUNT_LOCK_TIMEOUT_MS = 60_000
    owner = make_user(credits=100)
    issued = api_key_create(user=owner, limits={"max_concurrent": 2})
    clients = []
    for _ in range(20):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
        clients.append(client)

    # Async requests stay queued (no worker runs here), so "in flight" cannot change during the race.
    responses = run_together(20, lambda index: generate(clients[index], body={"async": True}))

    assert not [response for response in responses if isinstance(response, Exception)]
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [202] * 2 + [429] * 18
    assert {error_of(r)["code"] for r in responses if r.status_code == 429} == {"concurrency_limit_reached"}
    assert {r["Retry-After"] for r in responses if r.status_code == 429} == {"5"}
    assert Generation.objects.count() == 2 and charges() == 2
    assert balance_get(user=owner)["credits"] == 98
    assert billing_audit() == []


@pytest.mark.django_db(transaction=True)  # the stream gives its connection back while it runs
@pytest.mark.parametrize("face", ["api", "openai"])
def test_a_streamed_generation_carries_the_rate_headers_too(user, face, generation_files_cleanup):
    client = client_for(user, rate_limit_per_minute=3)

    response = generate(client, face, body={"stream": True})

    assert response["Content-Type"] == "text/event-stream"
    assert (response["x-ratelimit-limit-requests"], response["x-ratelimit-remaining-requests"]) == ("3", "2")
    assert b"image_generation.completed" in b"".join(response.streaming_content)
