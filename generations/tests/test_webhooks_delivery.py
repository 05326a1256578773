"""Webhook deliveries end to end: a real `webhooks` worker POSTs signed events to a real HTTP receiver.

The receiver verifies every request with the `standardwebhooks` package, as a customer would.
Retries are 1 s apart here (WEBHOOK_RETRY_DELAYS), so a fail-twice-then-succeed runs in seconds.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from openai import OpenAI
from standardwebhooks import Webhook, WebhookVerificationError

from generations.models import Generation, WebhookDelivery, WebhookEndpoint
from generations.tests.conftest import submit_async, wait_for_status, wait_until
from generations.tests.factories import GENERATIONS_URL
from generations.webhooks.secrets import signature_header
from generations.webhooks.serializers import event_body
from generations.webhooks.tasks import sweep_webhook_deliveries
from testsupport.webhook_receiver import WebhookReceiver

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("empty_queue", "generation_files_cleanup", "webhook_worker"),
]

BODY = {"model": "gpt-image-2", "prompt": "A lighthouse at dusk, long exposure"}


@pytest.fixture(scope="module")
def receiver_server():
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def receiver(receiver_server):
    receiver_server.reset()
    yield receiver_server
    receiver_server.release()


@pytest.fixture(scope="module")
def webhook_worker(start_module_worker):
    """The Procfile's webhooks process: gevent pool, the `webhooks` queue only."""
    return start_module_worker(
        pool="gevent",
        concurrency=20,
        queues="webhooks",
        WEBHOOK_RETRY_DELAYS="1,1",
        WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
        WEBHOOK_REQUIRE_HTTPS="false",
        WEBHOOK_TIMEOUT_SECONDS="60",
    )


@pytest.fixture(autouse=True)
def private_targets(settings):
    """The receiver listens on 127.0.0.1: allowed here (test_webhooks_targets.py proves the refusal)."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_REQUIRE_HTTPS = False


def endpoint(api, receiver, **fields) -> dict:
    response = api.post("/api/v1/webhooks", {"url": receiver.url, **fields}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def received(receiver, count: int, timeout: float = 30) -> list:
    return wait_until(
        lambda: receiver.requests[:count] if len(receiver.requests) >= count else None,
        timeout=timeout,
        what=f"{count} webhook request(s)",
    )


def generate(api) -> dict:
    return api.post(GENERATIONS_URL, BODY, format="json").json()


def test_a_test_key_s_generation_delivers_the_same_event_marked_livemode_false(user, receiver):
    from accounts.models import ApiKey
    from accounts.services import api_key_create
    from generations.tests.factories import api_client_for

    test_api = api_client_for(user)
    test_api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=user, mode=ApiKey.Mode.TEST).raw_key}")
    secret = endpoint(test_api, receiver)["secret"]

    generation = generate(test_api)

    [request] = received(receiver, 1)
    event = Webhook(secret).verify(request.body, request.for_standardwebhooks())
    assert (event["type"], event["livemode"], event["data"]["livemode"]) == ("generation.succeeded", False, False)
    assert event["data"] == test_api.get(f"/api/v1/generations/{generation['id']}").json()


def test_it_delivers_a_signed_succeeded_event_with_the_generation_as_get_shows_it(api, receiver):
    secret = endpoint(api, receiver)["secret"]

    generation = generate(api)

    [request] = received(receiver, 1)
    event = Webhook(secret).verify(request.body, request.for_standardwebhooks())
    assert event["object"] == "event"
    assert (event["type"], event["livemode"]) == ("generation.succeeded", True)
    assert event["id"].startswith("evt_")
    assert event["data"] == api.get(f"/api/v1/generations/{generation['id']}").json()
    assert event["data"]["status"] == "succeeded" and event["data"]["images"]
    assert request.headers["webhook-id"].startswith("msg_")
    assert request.headers["content-type"] == "application/json"
    # The OpenAI SDK's verifier (Standard Webhooks too) accepts it as well.
    OpenAI(api_key="unused").webhooks.verify_signature(request.body, request.headers, secret=secret)
    delivery = wait_until(
        lambda: WebhookDelivery.objects.filter(status="delivered").first(), timeout=10, what="the delivered row"
    )
    assert delivery.pk == request.headers["webhook-id"]
    assert list(delivery.attempt_rows.values_list("number", "response_code")) == [(1, 200)]


def test_it_delivers_a_signed_failed_event(api, receiver, openai_standin):
    secret = endpoint(api, receiver)["secret"]
    openai_standin.set_mode("http_500")

    generation = api.post(GENERATIONS_URL, BODY, format="json").json()

    [request] = received(receiver, 1)
    event = Webhook(secret).verify(request.body, request.for_standardwebhooks())
    assert event["type"] == "generation.failed"
    generation_id = Generation.objects.get().pk
    assert event["data"] == api.get(f"/api/v1/generations/{generation_id}").json()
    assert event["data"]["error"]["code"] == generation["error"]["code"] == "generationFailed"


def test_it_delivers_a_signed_canceled_event(api, receiver):
    secret = endpoint(api, receiver)["secret"]
    queued = submit_async(api)  # no generations worker in this module: it stays queued

    canceled = api.post(f"/api/v1/generations/{queued['id']}/cancel")

    assert canceled.status_code == 200, canceled.content
    [request] = received(receiver, 1)
    event = Webhook(secret).verify(request.body, request.for_standardwebhooks())
    assert event["type"] == "generation.canceled"
    assert event["data"] == api.get(f"/api/v1/generations/{queued['id']}").json()
    assert event["data"]["status"] == "canceled"


def test_it_sends_only_the_events_an_endpoint_subscribed_to(api, receiver, openai_standin):
    endpoint(api, receiver, events=["generation.succeeded"])
    openai_standin.set_mode("http_500")
    api.post(GENERATIONS_URL, BODY, format="json")
    openai_standin.set_mode("ok")

    api.post(GENERATIONS_URL, BODY, format="json")

    [request] = received(receiver, 1)
    assert b'"type":"generation.succeeded"' in request.body
    assert WebhookDelivery.objects.count() == 1


def test_it_retries_with_the_same_webhook_id_until_the_receiver_takes_it(api, receiver):
    secret = endpoint(api, receiver)["secret"]
    receiver.answer(500, 503)

    generate(api)

    requests = received(receiver, 3)
    assert len({request.headers["webhook-id"] for request in requests}) == 1
    assert len({request.body for request in requests}) == 1
    for request in requests:  # each attempt is signed afresh and verifies
        Webhook(secret).verify(request.body, request.for_standardwebhooks())
    delivery = wait_until(
        lambda: WebhookDelivery.objects.filter(status="delivered").first(), timeout=10, what="the delivered row"
    )
    assert delivery.attempts == 3
    assert list(delivery.attempt_rows.values_list("response_code", flat=True)) == [500, 503, 200]


def test_it_gives_up_after_the_last_retry(api, receiver):
    endpoint(api, receiver)
    receiver.answer(500, 500, 500, 500)

    generate(api)

    received(receiver, 3)
    delivery = wait_until(
        lambda: WebhookDelivery.objects.filter(status="failed").first(), timeout=10, what="the failed row"
    )
    assert list(delivery.attempt_rows.values_list("response_code", flat=True)) == [500, 500, 500]
    assert len(receiver.requests) == 3


def test_it_disables_an_endpoint_that_answers_410(api, receiver):
    created = endpoint(api, receiver)
    receiver.answer(410)
    generate(api)
    received(receiver, 1)
    wait_until(lambda: not WebhookEndpoint.objects.get(pk=created["id"]).enabled, timeout=10, what="disabled")

    generate(api)

    assert WebhookDelivery.objects.count() == 1
    assert WebhookDelivery.objects.get().status == "failed"
    assert api.get("/api/v1/webhooks").json()["data"][0]["enabled"] is False


def test_its_signatures_reject_forged_replayed_and_old_requests(api, receiver):
    secret = endpoint(api, receiver)["secret"]
    generate(api)
    [request] = received(receiver, 1)
    headers = request.for_standardwebhooks()
    webhook = Webhook(secret)
    webhook.verify(request.body, headers)  # the genuine one passes

    with pytest.raises(WebhookVerificationError):  # another secret
        Webhook("whsec_" + "A" * 43 + "=").verify(request.body, headers)
    with pytest.raises(WebhookVerificationError):  # a forged body
        webhook.verify(request.body.replace(b"succeeded", b"failed"), headers)
    with pytest.raises(WebhookVerificationError):  # replayed under a fresh timestamp
        webhook.verify(request.body, {**headers, "webhook-timestamp": str(int(timezone.now().timestamp()) + 1)})
    with pytest.raises(WebhookVerificationError):  # replayed under another id
        webhook.verify(request.body, {**headers, "webhook-id": "msg_other"})
    old = timezone.now() - timedelta(minutes=10)
    old_headers = {
        "webhook-id": headers["webhook-id"],
        "webhook-timestamp": str(int(old.timestamp())),
        "webhook-signature": signature_header([secret], msg_id=headers["webhook-id"], timestamp=old, body=request.body),
    }
    with pytest.raises(WebhookVerificationError, match="too old"):  # correctly signed, but stale: a late replay
        webhook.verify(request.body, old_headers)


def test_it_signs_with_the_old_and_the_new_secret_after_a_rotation(api, receiver):
    created = endpoint(api, receiver)
    rotated = api.post(f"/api/v1/webhooks/{created['id']}/rotate-secret").json()

    generate(api)

    [request] = received(receiver, 1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (created["secret"], rotated["secret"]):
        Webhook(secret).verify(request.body, request.for_standardwebhooks())


def test_a_slow_receiver_never_delays_a_generation_or_a_worker_slot(api, receiver, start_worker):
    """The generations' worker (one slot) finishes job after job while a delivery hangs in the webhooks worker."""
    start_worker(concurrency=1)  # the Procfile's worker: the default queue only
    endpoint(api, receiver)
    receiver.hold()

    first = submit_async(api)
    wait_until(receiver.holding.is_set, timeout=30, what="the receiver to hold the first delivery")
    second = submit_async(api)

    wait_for_status(second["id"], "succeeded", timeout=30)
    assert receiver.holding.is_set() and receiver.requests == []  # the first delivery is still held open
    receiver.release()

    def delivered(generation_id: str) -> bool:
        return any(generation_id.encode() in request.body for request in receiver.requests)

    wait_until(lambda: delivered(first["id"]) and delivered(second["id"]), timeout=30, what="both deliveries")


def test_the_sweep_sends_a_delivery_whose_task_was_lost(api, receiver):
    generation = Generation.objects.get(pk=generate(api)["id"])  # before any endpoint: no delivery of its own
    created = endpoint(api, receiver)
    overdue = timezone.now() - timedelta(minutes=10)
    lost = WebhookDelivery.objects.create(  # as if its task died with a worker: pending, due, in no queue
        endpoint_id=created["id"],
        event_type="generation.succeeded",
        generation=generation,
        body=event_body(
            event_id="evt_lost",
            event_type="generation.succeeded",
            generation=generation,
            base_url="",
            created_at=overdue,
        ),
        next_attempt_at=overdue,
    )

    assert sweep_webhook_deliveries() == 1

    [request] = received(receiver, 1)
    assert request.headers["webhook-id"] == lost.pk
    assert Webhook(created["secret"]).verify(request.body, request.for_standardwebhooks())["id"] == "evt_lost"
    assert sweep_webhook_deliveries() == 0  # claimed: not queued again
