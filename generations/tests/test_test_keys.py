"""Test keys (`gih_test_…`): real images on the local renderer, free, never a ledger row, never the paid provider.

Every test here runs with IMAGE_PROVIDER=openai pointed at the OpenAI stand-in (the
`openai_standin` fixture) and an account at 0 credits: a live key's request would go
upstream (or be refused with 402), a test key's must do neither. The stand-in's request
log shows what went upstream.
"""

import base64
import io

import openai
import pytest
import requests
from openai import OpenAI
from PIL import Image

from accounts.models import ApiKey
from accounts.services import api_key_create
from billing.models import LedgerEntry
from billing.selectors import balance_get, billing_audit
from generations.models import Generation
from generations.tests.factories import GENERATIONS_URL, api_client_for, decoded, image_bytes, upload

BODY = {"model": "gpt-image-2", "prompt": "A cinematic product photo of a perfume bottle on black marble"}


def _client(raw_key: str):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


@pytest.fixture
def broke(make_user):
    """An account with no credits at all."""
    return make_user("broke@example.com")


@pytest.fixture
def test_key(broke):
    return api_key_create(user=broke, name="integration", mode=ApiKey.Mode.TEST)


@pytest.fixture
def test_api(test_key):
    return _client(test_key.raw_key)


def _nothing_moved(user) -> None:
    assert LedgerEntry.objects.filter(account__user=user).count() == 0
    assert balance_get(user=user)["credits"] == 0
    assert billing_audit() == []


@pytest.mark.django_db
@pytest.mark.usefixtures("media_cleanup")
class TestSyncApi:
    def test_it_generates_real_images_for_free_on_the_local_renderer(self, test_api, broke, openai_standin):
        response = test_api.post(
            GENERATIONS_URL, {**BODY, "size": "1024x1536", "quality": "high", "n": 2}, format="json"
        )

        assert response.status_code == 200, response.content
        payload = response.json()
        assert (payload["status"], payload["livemode"]) == ("succeeded", False)
        assert payload["usage"] == {"credits": 0, "credits_requested": 0, "credits_refunded": 0}
        assert payload["balance"]["credits"] == 0
        assert len(payload["images"]) == 2
        served = test_api.get(payload["images"][0]["url"])
        assert decoded(b"".join(served.streaming_content)).size == (1024, 1536)
        generation = Generation.objects.get()
        assert (generation.livemode, generation.credits_charged, generation.credits_per_image) == (False, 0, 0)
        assert generation.provider_cost_usd == 0  # no provider was paid
        assert openai_standin.requests == []
        _nothing_moved(broke)

    def test_a_live_key_of_the_same_account_still_goes_upstream_and_says_livemode_true(
        self, test_api, user, openai_standin
    ):
        # The control: with these settings a live generation does reach the stand-in.
        live = _client(api_key_create(user=user).raw_key)
        response = live.post(GENERATIONS_URL, {**BODY, "quality": "low"}, format="json")

        assert response.status_code == 200, response.content
        assert response.json()["livemode"] is True
        assert len(openai_standin.requests) == 1
        assert Generation.objects.get().livemode is True

    def test_it_edits_with_reference_images_for_free(self, test_api, broke, openai_standin):
        response = test_api.post(
            "/api/v1/images/edits",
            {**BODY, "quality": "low", "image[]": [upload("a.png", image_bytes())]},
            format="multipart",
        )

        assert response.status_code == 200, response.content
        assert response.json()["livemode"] is False
        assert openai_standin.requests == []
        _nothing_moved(broke)

    def test_it_validates_exactly_as_a_live_key_does(self, test_api, broke, openai_standin):
        response = test_api.post(GENERATIONS_URL, {**BODY, "size": "10x10"}, format="json")

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_request"
        assert response.json()["error"]["message"].startswith("size:")
        assert Generation.objects.count() == 0

    def test_a_live_key_of_the_same_empty_account_is_refused_with_402(self, test_api, broke, openai_standin):
        live = _client(api_key_create(user=broke).raw_key)

        response = live.post(GENERATIONS_URL, BODY, format="json")

        assert response.status_code == 402
        assert response.json()["error"]["code"] == "insufficientCredits"
        assert openai_standin.requests == []

    def test_a_test_key_and_a_live_key_do_not_see_each_other_s_generations(self, test_api, user, broke):
        live_user_key = _client(api_key_create(user=broke).raw_key)
        test_generation = test_api.post(GENERATIONS_URL, {**BODY, "quality": "low"}, format="json").json()

        assert test_api.get(f"/api/v1/generations/{test_generation['id']}").json()["livemode"] is False
        hidden = live_user_key.get(f"/api/v1/generations/{test_generation['id']}")
        assert hidden.status_code == 404
        assert hidden.json()["error"]["code"] == "notFound"

    def test_the_generations_list_shows_only_the_key_s_mode(self, user):
        live = _client(api_key_create(user=user).raw_key)
        test = _client(api_key_create(user=user, mode=ApiKey.Mode.TEST).raw_key)
        live_id = live.post(GENERATIONS_URL, {**BODY, "quality": "low"}, format="json").json()["id"]
        test_id = test.post(GENERATIONS_URL, {**BODY, "quality": "low"}, format="json").json()["id"]

        assert [item["id"] for item in live.get("/api/v1/generations").json()["data"]] == [live_id]
        assert [item["id"] for item in test.get("/api/v1/generations").json()["data"]] == [test_id]
        crossed = test.get("/api/v1/generations", {"starting_after": live_id})
        assert (crossed.status_code, crossed.json()["error"]["code"]) == (400, "invalid_request")

    def test_a_test_key_cannot_cancel_or_delete_a_live_generation(self, user):
        # Not committed, so never published: the async generation stays queued (and charged).
        live = _client(api_key_create(user=user).raw_key)
        test = _client(api_key_create(user=user, mode=ApiKey.Mode.TEST).raw_key)
        queued = live.post(GENERATIONS_URL, {**BODY, "quality": "low", "async": True}, format="json").json()
        url = f"/api/v1/generations/{queued['id']}"

        assert test.post(f"{url}/cancel").status_code == 404
        assert test.delete(url).status_code == 404
        assert Generation.objects.get().status == "queued"
        assert balance_get(user=user)["credits"] == 99
        canceled = live.post(f"{url}/cancel")
        assert (canceled.status_code, canceled.json()["status"], canceled.json()["livemode"]) == (200, "canceled", True)
        assert balance_get(user=user)["credits"] == 100

    def test_a_test_key_cancels_its_own_queued_generation_without_moving_credits(self, test_api, broke):
        queued = test_api.post(GENERATIONS_URL, {**BODY, "quality": "low", "async": True}, format="json").json()

        canceled = test_api.post(f"/api/v1/generations/{queued['id']}/cancel")

        assert (canceled.status_code, canceled.json()["status"]) == (200, "canceled")
        _nothing_moved(broke)

    def test_an_idempotency_key_is_one_request_in_one_mode(self, test_api, broke):
        first = test_api.post(GENERATIONS_URL, {**BODY, "quality": "low"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
        replay = test_api.post(GENERATIONS_URL, {**BODY, "quality": "low"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
        live = _client(api_key_create(user=broke).raw_key)
        crossed = live.post(GENERATIONS_URL, {**BODY, "quality": "low"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

        assert first.status_code == replay.status_code == 200
        assert replay.json()["id"] == first.json()["id"]
        assert crossed.status_code == 409
        assert crossed.json()["error"]["code"] == "idempotency_key_reused"
        assert Generation.objects.count() == 1


@pytest.mark.django_db
class TestCredits:
    def test_credits_shows_the_live_balance_read_only(self, make_user):
        rich = make_user("rich@example.com", credits=40)
        key = api_key_create(user=rich, mode=ApiKey.Mode.TEST)

        payload = _client(key.raw_key).get("/api/v1/credits").json()

        assert (payload["object"], payload["livemode"], payload["credits"]) == ("credit_balance", False, 40)
        live = api_client_for(rich).get("/api/v1/credits").json()
        assert (live["livemode"], live["credits"]) == (True, 40)

    def test_a_test_key_cannot_redeem_a_code(self, test_api, broke):
        response = test_api.post("/api/v1/credits/redeem", {"code": "GIH-AAAA-BBBB-CCCC-DDDD"}, format="json")

        assert response.status_code == 403
        assert response.json()["error"]["code"] == "test_key_not_allowed"
        _nothing_moved(broke)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("generation_files_cleanup")
class TestOfficialSdk:
    """The official OpenAI Python SDK with a test key, on both faces, against a live hub."""

    def test_the_openai_face_generates_for_free_with_the_exact_openai_shape(
        self, live_server, test_key, broke, openai_standin
    ):
        client = OpenAI(base_url=f"{live_server.url}/v1", api_key=test_key.raw_key, max_retries=0)

        raw = client.images.with_raw_response.generate(
            model="gpt-image-2", prompt="A red bicycle", n=2, size="1024x1024", quality="high"
        )
        result = raw.parse()

        assert len(result.data) == 2
        assert Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json))).size == (1024, 1024)
        assert set(raw.http_response.json()) == {
            "created",
            "data",
            "background",
            "output_format",
            "quality",
            "size",
            "usage",
        }
        assert (raw.headers["x-gih-livemode"], raw.headers["x-gih-credits-charged"]) == ("false", "0")
        assert Generation.objects.get().face == "openai"
        assert openai_standin.requests == []
        _nothing_moved(broke)

    def test_the_openai_face_streams_for_free(self, live_server, test_key, broke, openai_standin):
        client = OpenAI(base_url=f"{live_server.url}/v1", api_key=test_key.raw_key, max_retries=0)

        events = list(
            client.images.generate(model="gpt-image-2", prompt="A river", quality="low", stream=True, partial_images=1)
        )

        assert [event.type for event in events][-1] == "image_generation.completed"
        assert Image.open(io.BytesIO(base64.b64decode(events[-1].b64_json))).size == (1024, 1024)
        assert openai_standin.requests == []
        _nothing_moved(broke)

    def test_the_openai_face_edits_for_free(self, live_server, test_key, broke, openai_standin):
        client = OpenAI(base_url=f"{live_server.url}/v1", api_key=test_key.raw_key, max_retries=0)

        result = client.images.edit(
            model="gpt-image-2", image=("a.png", image_bytes(), "image/png"), prompt="Make it blue", quality="low"
        )

        assert len(result.data) == 1
        assert openai_standin.requests == []
        _nothing_moved(broke)

    def test_the_hub_face_generates_for_free_through_the_sdk(self, live_server, test_key, broke, openai_standin):
        client = OpenAI(base_url=f"{live_server.url}/api/v1", api_key=test_key.raw_key, max_retries=0)

        result = client.images.generate(model="gpt-image-2", prompt="A kite", size="1536x1024", quality="low")

        image = requests.get(result.data[0].url, timeout=10)
        assert Image.open(io.BytesIO(image.content)).size == (1536, 1024)
        assert Generation.objects.get().livemode is False
        assert openai_standin.requests == []
        _nothing_moved(broke)

    def test_the_sdk_sees_the_same_error_classes_as_with_a_live_key(self, live_server, test_key, openai_standin):
        client = OpenAI(base_url=f"{live_server.url}/v1", api_key=test_key.raw_key, max_retries=0)

        with pytest.raises(openai.BadRequestError) as error:
            client.images.generate(model="gpt-image-2", prompt="x", size="10x10")
        assert error.value.body["param"] == "size"
        revoked = OpenAI(base_url=f"{live_server.url}/v1", api_key="gih_test_" + "x" * 32, max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            revoked.images.generate(model="gpt-image-2", prompt="x")


@pytest.mark.django_db
@pytest.mark.usefixtures("media_cleanup")
class TestLimits:
    """A test key's limits refuse as a live key's do; its spend limit never binds, since it spends nothing."""

    def test_a_test_key_is_rate_limited_with_the_same_429(self, broke, settings):
        # In-process counts: a Redis timeout on a loaded machine would move the count to memory mid-test.
        settings.API_RATE_LIMIT_STORAGE_URL = "memory://"
        key = api_key_create(user=broke, mode=ApiKey.Mode.TEST, limits={"rate_limit_per_minute": 1})
        client = _client(key.raw_key)

        first = client.post(GENERATIONS_URL, {**BODY, "quality": "low"}, format="json")
        refused = client.post(GENERATIONS_URL, {**BODY, "quality": "low"}, format="json")

        assert (first.status_code, first["x-ratelimit-limit-requests"]) == (200, "1")
        assert (refused.status_code, refused.json()["error"]["code"]) == (429, "rate_limited")
        assert "Retry-After" in refused
        _nothing_moved(broke)

    def test_a_test_key_is_refused_a_model_it_may_not_use(self, broke):
        key = api_key_create(user=broke, mode=ApiKey.Mode.TEST, limits={"allowed_models": ["another-model"]})

        refused = _client(key.raw_key).post(GENERATIONS_URL, BODY, format="json")

        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "model_not_allowed")

    def test_a_test_key_s_spend_limit_never_binds(self, broke):
        key = api_key_create(user=broke, mode=ApiKey.Mode.TEST, limits={"spend_limit": 1, "spend_period": "total"})
        client = _client(key.raw_key)

        for _ in range(2):  # 8 credits each at a live price, over the limit of 1
            response = client.post(GENERATIONS_URL, {**BODY, "quality": "high"}, format="json")
            assert response.status_code == 200, response.content
        _nothing_moved(broke)
