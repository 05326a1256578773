"""Async generations against the OpenAI adapter: refunds for failures and missing images, one call per job.

The worker runs IMAGE_PROVIDER=openai against the OpenAI stand-in (real HTTP, served
from this test process), so each test scripts the provider's answer and counts the
calls it received.
"""

import pytest

from billing.models import LedgerEntry
from billing.selectors import balance_get, billing_audit
from generations.models import Generation
from generations.tasks import run_generation
from generations.tests.conftest import submit_async, wait_for_status, wait_until
from testsupport.openai_standin import OpenAIStandin

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("empty_queue", "generation_files_cleanup"),
]

Status = Generation.Status


@pytest.fixture(scope="module")
def standin():
    with OpenAIStandin() as server:
        yield server


@pytest.fixture(scope="module")
def worker(start_module_worker, standin):
    return start_module_worker(
        concurrency=2,
        IMAGE_PROVIDER="openai",
        OPENAI_API_KEY=standin.api_key,
        OPENAI_BASE_URL=standin.base_url,
        GENERATION_HEARTBEAT_SECONDS="1",
    )


@pytest.fixture
def provider(standin, worker):
    """The stand-in, answering "ok" with no request recorded yet."""
    standin.reset()
    return standin


def finished(api, generation_id: str) -> dict:
    wait_for_status(generation_id, Status.SUCCEEDED, Status.FAILED, timeout=20)
    response = api.get(f"/api/v1/generations/{generation_id}")
    assert response.status_code == 200
    return response.json()


def test_it_fails_and_refunds_in_full_when_the_provider_fails(api, user, provider):
    provider.set_mode("http_500")
    submitted = submit_async(api, n=2)

    result = finished(api, submitted["id"])

    assert result["status"] == "failed"
    assert result["error"]["code"] == "generationFailed"
    assert "server had an error" not in result["error"]["message"]  # the raw provider text stays on the row
    assert result["images"] == []
    assert result["usage"]["credits"] == 0
    assert result["usage"]["credits_refunded"] == submitted["usage"]["credits_requested"]
    assert Generation.objects.get(pk=submitted["id"]).error_code == "provider_unavailable"
    assert balance_get(user=user)["credits"] == 100
    assert len(provider.requests) == 1
    assert billing_audit() == []


def test_it_refunds_the_images_the_provider_did_not_deliver(api, user, provider):
    provider.set_mode("fewer", count=1)
    submitted = submit_async(api, n=3)
    per_image = submitted["usage"]["credits_requested"] // 3

    result = finished(api, submitted["id"])

    assert result["status"] == "succeeded"
    assert len(result["images"]) == 1
    assert result["usage"]["credits"] == per_image
    assert result["usage"]["credits_refunded"] == 2 * per_image
    assert balance_get(user=user)["credits"] == 100 - per_image
    refunds = LedgerEntry.objects.filter(generation_id=submitted["id"], kind=LedgerEntry.Kind.REFUND)
    assert sum(entry.amount for entry in refunds) == 2 * per_image
    assert billing_audit() == []


def test_it_calls_the_provider_once_for_a_task_delivered_twice(api, user, provider, worker):
    provider.set_mode("ok", delay=3)
    log_start = len(worker.log())
    submitted = submit_async(api)
    run_generation.apply_async(args=[submitted["id"]])  # the same job, published a second time

    # Both deliveries are taken at once (two pool processes); the one that loses the claim
    # waits for the live attempt instead of calling the provider, then finds it finished.
    result = finished(api, submitted["id"])

    def log() -> str:
        return worker.log()[log_start:]

    wait_until(lambda: log().count("'succeeded'") == 2, timeout=20, what="both deliveries to end")

    assert result["status"] == "succeeded"
    assert len(provider.requests) == 1
    assert "retry: Retry in" in log()
    generation = Generation.objects.get(pk=submitted["id"])
    assert (generation.attempts, generation.images.count()) == (1, 1)
    charges = LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.CHARGE)
    assert -sum(entry.amount for entry in charges) == generation.credits_charged
    assert not LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.REFUND).exists()
    assert balance_get(user=user)["credits"] == 100 - generation.credits_charged
    assert billing_audit() == []
