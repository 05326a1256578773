"""Async generations through the API, run by a real Celery worker on the real broker.

POST with async=true answers 202 at once with the documented queued object; the worker
renders the images; GET on poll_url shows the result and what it cost.
"""

import re
import time

import pytest
from django.urls import reverse

from billing.models import LedgerEntry
from billing.selectors import balance_get, billing_audit
from generations.models import GeneratedImage, Generation
from generations.tests.conftest import wait_until
from generations.tests.factories import GENERATIONS_URL, image_bytes, shows_reference_inset, upload

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("empty_queue", "generation_files_cleanup", "worker"),
]

PROVIDER_DELAY = 3  # seconds the local renderer sleeps: the 202 must not wait for it
BODY = {"model": "gpt-image-2", "prompt": "A cinematic product photo with premium studio lighting"}
ISO_MILLIS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def worker(start_module_worker):
    return start_module_worker(LOCAL_PROVIDER_DELAY_SECONDS=str(PROVIDER_DELAY))


def submit(client, **fields) -> tuple[dict, float]:
    started = time.monotonic()
    response = client.post(GENERATIONS_URL, {**BODY, **fields}, format="json")
    elapsed = time.monotonic() - started
    assert response.status_code == 202, response.content
    assert response["Location"] == response.json()["poll_url"]
    return response.json(), elapsed


def poll(client, poll_url: str, timeout: float = 20) -> dict:
    """GET poll_url until the generation is terminal."""

    def terminal():
        response = client.get(poll_url)
        assert response.status_code == 200, response.content
        payload = response.json()
        return payload if payload["status"] in {"succeeded", "failed"} else None

    return wait_until(terminal, timeout=timeout, what="the generation to finish", interval=0.2)


def test_it_answers_202_with_the_documented_queued_object_without_waiting_for_the_provider(api, user):
    payload, _ = submit(api, size="1024x1024", quality="high", n=2, **{"async": True})

    generation = Generation.objects.get(pk=payload["id"])
    # Exactly the documented keys and values ...
    assert payload["object"] == "image_generation"
    assert payload["id"] == generation.pk
    assert payload["status"] == "queued"
    assert payload["model"] == "gpt-image-2"
    assert payload["aspect_ratio"] == "1:1"
    assert payload["quality"] == "high"
    assert ISO_MILLIS_Z.match(payload["created_at"])
    assert payload["images"] == []
    assert payload["usage"]["credits"] == 0
    assert payload["usage"]["credits_requested"] == generation.credits_charged > 0
    assert payload["poll_url"] == "http://testserver" + reverse("api-generation-detail", args=[generation.pk])
    assert "balance" not in payload
    # ... and the charge is taken at submit, once.
    assert balance_get(user=user)["credits"] == 100 - generation.credits_charged


def test_it_runs_the_job_in_the_worker_and_shows_the_result_on_poll_url(api, user):
    payload, _ = submit(api, aspect_ratio="1:1", quality="1K", n=2, **{"async": True})
    requested = payload["usage"]["credits_requested"]

    result = poll(api, payload["poll_url"])

    assert result["status"] == "succeeded"
    assert len(result["images"]) == 2
    for image in result["images"]:
        response = api.get(image["url"])
        assert response.status_code == 200
        assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    assert result["usage"]["credits"] == requested
    assert result["usage"]["credits_refunded"] == 0
    assert balance_get(user=user)["credits"] == 100 - requested
    charges = LedgerEntry.objects.filter(generation_id=payload["id"], kind=LedgerEntry.Kind.CHARGE)
    assert sum(entry.amount for entry in charges) == -requested
    assert not LedgerEntry.objects.filter(generation_id=payload["id"], kind=LedgerEntry.Kind.REFUND).exists()
    assert Generation.objects.get(pk=payload["id"]).attempts == 1
    assert billing_audit() == []


def test_it_builds_an_https_poll_url_behind_a_tls_proxy(api, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "www.gptimagehub.com"]

    response = api.post(
        GENERATIONS_URL,
        {**BODY, "async": True},
        format="json",
        HTTP_HOST="www.gptimagehub.com",
        HTTP_X_FORWARDED_PROTO="https",
    )

    assert response.status_code == 202, response.content
    generation_id = response.json()["id"]
    assert response.json()["poll_url"] == f"https://www.gptimagehub.com/api/v1/generations/{generation_id}"
    assert poll(api, reverse("api-generation-detail", args=[generation_id]))["status"] == "succeeded"


def test_it_accepts_async_true_in_a_multipart_form_and_the_worker_uses_the_reference_image(api, user):
    response = api.post(
        GENERATIONS_URL,
        {**BODY, "async": "true", "size": "1024x1024", "reference_image": upload("reference.png", image_bytes())},
        format="multipart",
    )

    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued"
    result = poll(api, response.json()["poll_url"])
    assert result["status"] == "succeeded"
    image = GeneratedImage.objects.get(generation_id=result["id"])
    with image.file.open("rb") as handle:
        assert shows_reference_inset(handle.read())


def test_it_runs_a_multipart_request_without_async_synchronously(api):
    response = api.post(GENERATIONS_URL, {**BODY, "async": "false"}, format="multipart")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "succeeded"
    assert "poll_url" not in response.json()


def test_the_worker_freezes_its_start_up_heap_out_of_the_collector(worker):
    """gih/celery.py: a long-lived worker process keeps its start-up objects out of full collections."""
    worker.wait_for_log("start-up objects out of the garbage collector's reach", timeout=10)
