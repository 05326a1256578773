"""`Prefer: wait=N` on POST /api/v1/images/generations: a job the request waits for, up to N seconds.

The end-to-end tests run a real Celery worker on the real broker; the local renderer's
delay (LOCAL_PROVIDER_DELAY_SECONDS) makes a generation slow or fast.
"""

import threading

import pytest
import redis
from django.conf import settings
from django.db import connection

from billing.selectors import balance_get, billing_audit
from generations.models import Generation
from generations.tests.conftest import wait_for_status, wait_until
from generations.tests.factories import GENERATIONS_URL
from generations.tests.test_connection_release import connections_in_use
from generations.transitions import generation_cancel
from generations.waiting import CHANNEL_PREFIX, prefer_wait
from gih.errors import InvalidRequest

BODY = {"model": "gpt-image-2", "prompt": "A cinematic product photo with premium studio lighting"}


def post_waiting(client, wait: str, **fields):
    return client.post(GENERATIONS_URL, {**BODY, **fields}, format="json", HTTP_PREFER=wait)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("wait=5", 5),
        ("respond-async, wait=10", 10),
        ('Wait="60"', 60),
        ("handling=lenient; foo=bar, wait=1", 1),
        ("return=minimal", None),
    ],
)
def test_it_reads_the_wait_preference(header, seconds):
    assert prefer_wait(header) == seconds


@pytest.mark.parametrize("header", ["wait=0", "wait=61", "wait=abc", "wait=", "wait=-3", "wait=1.5"])
def test_it_refuses_a_wait_outside_1_to_60_seconds(header):
    with pytest.raises(InvalidRequest):
        prefer_wait(header)


@pytest.mark.django_db
def test_a_bad_wait_is_a_400_envelope_and_charges_nothing(api, user):
    response = post_waiting(api, "wait=600")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert "Prefer" in response.json()["error"]["message"]
    assert not Generation.objects.exists()
    assert balance_get(user=user)["credits"] == 100


# --- With a real worker ------------------------------------------------------------------

# Real transactions (the worker sees only committed rows); no task or file outlives the test.
committed = pytest.mark.django_db(transaction=True)
clean_queue_and_files = pytest.mark.usefixtures("empty_queue", "generation_files_cleanup")


@clean_queue_and_files
@committed
def test_a_short_wait_on_a_slow_generation_answers_202_and_the_job_completes(api, user, start_worker):
    start_worker(LOCAL_PROVIDER_DELAY_SECONDS="10")

    response = post_waiting(api, "wait=2")

    assert response.status_code == 202, response.content
    payload = response.json()
    assert response["Preference-Applied"] == "wait=2"
    assert response["Location"] == payload["poll_url"]
    assert payload["status"] in {"queued", "running"}
    assert payload["async"] is True
    assert "balance" not in payload
    finished = wait_for_status(payload["id"], "succeeded", "failed", timeout=90)
    assert finished.status == Generation.Status.SUCCEEDED
    assert api.get(payload["poll_url"]).json()["images"]
    assert balance_get(user=user)["credits"] == 100 - finished.credits_charged
    assert billing_audit() == []


@clean_queue_and_files
@committed
def test_a_long_wait_on_a_fast_generation_answers_200_with_the_sync_response(api, user, start_worker):
    start_worker(LOCAL_PROVIDER_DELAY_SECONDS="0")

    response = post_waiting(api, "wait=30", n=2, response_format="b64_json")

    assert response.status_code == 200, response.content
    payload = response.json()
    assert response["Preference-Applied"] == "wait=30"
    assert payload["status"] == "succeeded"
    assert len(payload["images"]) == 2
    assert all(image["b64_json"] for image in payload["images"])
    assert [entry["url"] for entry in payload["data"]] == [image["url"] for image in payload["images"]]
    assert payload["balance"]["credits"] == balance_get(user=user)["credits"] == 100 - payload["usage"]["credits"]
    assert "poll_url" not in payload
    assert billing_audit() == []


# --- What the wait holds: no connection, a Redis subscription ------------------------------


@clean_queue_and_files
@committed
def test_the_wait_holds_no_database_connection_and_listens_on_redis(api, user):
    """No worker runs: the generation stays queued, so the request waits its full 3 s and answers 202."""
    subscriptions = redis.Redis.from_url(settings.REDIS_URL)
    baseline = connections_in_use()
    outcome: dict = {}

    def request() -> None:
        try:
            outcome["response"] = post_waiting(api, "wait=3")
        finally:
            connection.close()

    thread = threading.Thread(target=request)
    thread.start()
    generation = wait_until(Generation.objects.first, timeout=30, what="the queued generation")
    channel = CHANNEL_PREFIX + generation.pk
    samples = []
    while thread.is_alive():
        listening = subscriptions.pubsub_numsub(channel)[0][1]
        samples.append((listening, connections_in_use()))
    thread.join()

    assert outcome["response"].status_code == 202
    assert outcome["response"]["Preference-Applied"] == "wait=3"
    # While it was subscribed (waiting), some sample saw no connection checked out but this thread's.
    assert any(listening == 1 and in_use == baseline for listening, in_use in samples), samples[-20:]
    assert Generation.objects.get(pk=generation.pk).status == Generation.Status.QUEUED


@clean_queue_and_files
@committed
def test_a_finish_is_published_to_the_waiting_requests_channel(make_user):
    from generations.services import generation_accept

    owner = make_user("publisher@example.com", credits=5)
    generation = generation_accept(user=owner, data={**BODY, "async": True}).generation  # queued, no task
    client = redis.Redis.from_url(settings.REDIS_URL)
    channel = CHANNEL_PREFIX + generation.pk
    listener = client.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(channel)
    wait_until(lambda: client.pubsub_numsub(channel)[0][1] == 1, timeout=10, what="the subscription")

    generation_cancel(user=owner, generation_id=generation.pk)

    message = wait_until(lambda: listener.get_message(timeout=1), timeout=30, what="the published finish")
    assert message["data"] == b"canceled"
    listener.close()


@clean_queue_and_files
@committed
def test_a_sync_generations_finish_is_not_published(make_user):
    """No request can wait on a sync generation (Prefer: wait makes a job): its finish goes to no channel."""
    from generations.services import generation_accept
    from generations.tests.factories import api_client_for

    owner = make_user("sync-publisher@example.com", credits=5)
    client = redis.Redis.from_url(settings.REDIS_URL)
    listener = client.pubsub(ignore_subscribe_messages=True)
    listener.psubscribe(CHANNEL_PREFIX + "*")
    wait_until(lambda: client.pubsub_numpat() >= 1, timeout=10, what="the subscription")

    response = api_client_for(owner).post(GENERATIONS_URL, BODY, format="json")
    assert response.status_code == 200 and response.json()["status"] == "succeeded"
    job = generation_accept(user=owner, data={**BODY, "async": True}).generation
    generation_cancel(user=owner, generation_id=job.pk)

    # Redis delivers in publishing order: the first finish heard is the job's, the sync one was never sent.
    message = wait_until(lambda: listener.get_message(timeout=1), timeout=30, what="the published finish")
    assert (message["channel"], message["data"]) == ((CHANNEL_PREFIX + job.pk).encode(), b"canceled")
    listener.close()
