"""Streaming on both faces, over a live server: OpenAI's events, keep-alive comments, no connection held, refunds.

Read with a plain HTTP client and the SSE parser, so what is checked is the bytes on
the wire; the SDK tests (test_openai_sdk_v1.py, test_node_sdk.py) read the same streams.
"""

import base64
import io
import time

import pytest
import requests
from PIL import Image

from accounts.services import api_key_create
from billing.selectors import balance_get, billing_audit
from generations.models import Generation
from generations.tests.test_connection_release import connections_in_use
from gih.sse import iter_events

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("generation_files_cleanup")]

BODY = {"model": "gpt-image-2", "prompt": "A lantern in the fog", "quality": "low", "stream": True}


@pytest.fixture
def account(live_server, make_user):
    user = make_user("stream@example.com", credits=20)
    return user, {"Authorization": f"Bearer {api_key_create(user=user).raw_key}"}, live_server.url


def _post(account, path: str, body: dict) -> requests.Response:
    _, headers, base_url = account
    return requests.post(f"{base_url}{path}", json=body, headers=headers, stream=True, timeout=60)


def _image(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


def test_it_streams_openai_s_events_on_api_v1_with_the_hub_s_extras(account, settings):
    settings.LOCAL_PROVIDER_DELAY_SECONDS = 0
    user, _, base_url = account

    response = _post(account, "/api/v1/images/generations", {**BODY, "partial_images": 3, "output_format": "webp"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    events = [(event.event, event.json()) for event in iter_events(response.iter_content(chunk_size=None))]
    assert [name for name, _ in events] == ["image_generation.partial_image"] * 3 + ["image_generation.completed"]
    assert [data["partial_image_index"] for _, data in events[:3]] == [0, 1, 2]
    _, completed = events[-1]
    generation = Generation.objects.get()
    assert completed["generation_id"] == generation.pk == response.headers["x-gih-generation-id"]
    assert completed["url"].startswith(base_url)
    assert _image(completed["b64_json"]).format == "WEBP"
    assert (completed["output_format"], completed["size"]) == ("webp", "1024x1024")
    assert (generation.face, generation.status) == ("api", "succeeded")
    assert balance_get(user=user)["credits"] == 19


def test_it_sends_keep_alive_comments_while_the_provider_is_quiet(account, settings):
    settings.LOCAL_PROVIDER_DELAY_SECONDS = 1.0
    settings.STREAM_KEEPALIVE_SECONDS = 0.1

    response = _post(account, "/v1/images/generations", BODY)
    raw = b"".join(response.iter_content(chunk_size=None))

    assert raw.count(b": keep-alive\n\n") >= 2  # ~10 expected: far from the edge
    assert [event.event for event in iter_events([raw])] == ["image_generation.completed"]


def test_it_holds_no_database_connection_while_it_streams(account, settings):
    settings.LOCAL_PROVIDER_DELAY_SECONDS = 3.0  # 1.5 s before the partial image, 1.5 s after it
    baseline = connections_in_use()  # this thread's own

    response = _post(account, "/v1/images/generations", {**BODY, "partial_images": 1})
    events = iter_events(response.iter_content(chunk_size=None))
    first = next(events)
    samples = []
    for _ in range(10):
        samples.append(connections_in_use())
        time.sleep(0.05)
    rest = list(events)

    assert first.event == "image_generation.partial_image"
    assert baseline in samples, samples
    assert [event.event for event in rest] == ["image_generation.completed"]


def test_it_streams_a_failure_as_an_error_event_after_a_full_refund(account, openai_standin):
    user, _, _ = account
    openai_standin.set_mode("stream_moderation")

    response = _post(account, "/v1/images/generations", {**BODY, "partial_images": 1})
    events = list(iter_events(response.iter_content(chunk_size=None)))

    assert [event.event for event in events] == ["image_generation.partial_image", "error"]
    assert events[-1].json()["error"]["code"] == "moderation_blocked"
    generation = Generation.objects.get()
    assert (generation.status, generation.error_code, generation.credits_used) == ("failed", "moderation_blocked", 0)
    assert balance_get(user=user)["credits"] == 20
    assert billing_audit() == []


def test_it_reports_a_failed_api_v1_stream_with_the_documented_code(account, openai_standin):
    openai_standin.set_mode("stream_truncated")

    response = _post(account, "/api/v1/images/generations", BODY)
    [event] = list(iter_events(response.iter_content(chunk_size=None)))

    assert event.event == "error"
    assert event.json()["error"]["code"] == "generationFailed"


def test_it_refuses_to_stream_before_charging_when_the_request_is_bad(account):
    user, _, _ = account

    too_many = _post(account, "/v1/images/generations", {**BODY, "partial_images": 9})
    with_async = _post(account, "/api/v1/images/generations", {**BODY, "async": True})

    assert (too_many.status_code, too_many.json()["error"]["param"]) == (400, "partial_images")
    assert with_async.json()["error"]["message"] == "stream: cannot be combined with async."
    assert balance_get(user=user)["credits"] == 20
