"""An async submit when the broker is down: a fast, clean 503 and no credits spent.

The request runs in a subprocess whose settings point the broker at a dead address,
so it exercises the real publish path and the timeouts configured in gih/settings.py.
"""

import json
import socket
import subprocess
import sys
import threading

import pytest
from django.conf import settings

from billing.models import LedgerEntry
from billing.selectors import balance_get, billing_audit
from generations.models import Generation
from generations.tests.factories import GENERATIONS_URL

pytestmark = pytest.mark.django_db(transaction=True)

REQUEST_SCRIPT = """
import json, sys, time
import django
django.setup()
from django.test import Client

headers = {"Authorization": "Bearer " + sys.argv[3]}
if len(sys.argv) > 4:
    headers["Idempotency-Key"] = sys.argv[4]
started = time.monotonic()
response = Client().post(sys.argv[1], sys.argv[2], content_type="application/json", headers=headers)
print(json.dumps({"status": response.status_code, "body": response.json(), "elapsed": time.monotonic() - started}))
"""


def post_with_broker(worker_env: dict, broker_url: str, raw_key: str, body: dict, *idempotency_key: str) -> dict:
    env = {**worker_env, "REDIS_URL": broker_url, "CELERY_BROKER_URL": broker_url}
    completed = subprocess.run(
        [sys.executable, "-c", REQUEST_SCRIPT, GENERATIONS_URL, json.dumps(body), raw_key, *idempotency_key],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.fixture
def silent_broker():
    """A TCP server that accepts connections and never answers: a hung broker."""
    server = socket.create_server(("127.0.0.1", 0))
    held = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    server.close()
    for connection in held:
        connection.close()


def assert_refused_cleanly(result: dict, user) -> None:
    assert result["status"] == 503
    assert result["body"]["error"]["code"] == "service_unavailable"
    assert set(result["body"]) == {"error"}
    generation = Generation.objects.get(user=user)
    assert generation.status == Generation.Status.FAILED
    assert generation.error_code == "broker_unavailable"
    assert generation.credits_refunded == generation.credits_charged > 0
    assert LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.REFUND).count() == 1
    assert balance_get(user=user)["credits"] == 100
    assert billing_audit() == []


def test_it_answers_503_and_refunds_when_the_broker_refuses_connections(worker_env, issued_key, user):
    body = {"model": "gpt-image-2", "prompt": "A lighthouse at dusk", "n": 2, "async": True}

    result = post_with_broker(worker_env, "redis://127.0.0.1:1/0", issued_key.raw_key, body)

    assert_refused_cleanly(result, user)
    # Refused at once and retried once without back-off (under a second on a quiet machine); the bound
    # only rules out a hang or a long back-off on a loaded CI box.
    assert result["elapsed"] < 15


def test_it_gives_up_within_seconds_when_the_broker_accepts_but_never_answers(
    worker_env, issued_key, user, silent_broker
):
    body = {"model": "gpt-image-2", "prompt": "A lighthouse at dusk", "async": True}

    result = post_with_broker(worker_env, silent_broker, issued_key.raw_key, body)

    assert_refused_cleanly(result, user)
    # One 3 s read (CELERY_BROKER_SOCKET_TIMEOUT), not a hang (redis-py's default waits forever);
    # the bound is 10x that, so a loaded machine cannot fail it.
    assert result["elapsed"] < 30


@pytest.mark.usefixtures("empty_queue")
def test_it_lets_a_refused_request_be_retried_with_the_same_idempotency_key(worker_env, issued_key, user, api):
    body = {"model": "gpt-image-2", "prompt": "A lighthouse at dusk", "async": True}
    refused = post_with_broker(worker_env, "redis://127.0.0.1:1/0", issued_key.raw_key, body, "lighthouse-1")
    assert refused["status"] == 503

    # The broker is back (this process publishes to the test Redis): the 503 said "retry".
    retried = api.post(GENERATIONS_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="lighthouse-1")

    assert retried.status_code == 202, retried.content
    generation = Generation.objects.get(pk=retried.json()["id"])
    assert generation.status == Generation.Status.QUEUED
    assert Generation.objects.filter(user=user, status=Generation.Status.FAILED).count() == 1
    assert balance_get(user=user)["credits"] == 100 - generation.credits_charged
    replayed = api.post(GENERATIONS_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="lighthouse-1")
    assert (replayed.status_code, replayed.json()["id"]) == (202, generation.pk)
    assert billing_audit() == []
