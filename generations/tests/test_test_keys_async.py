"""A test key's async generation, run by a real Celery worker configured for the paid provider.

The worker runs with IMAGE_PROVIDER=openai pointed at the OpenAI stand-in; a live key's
job in the same worker goes upstream (the control), a test key's is drawn locally and
moves no credits, on an account that has none.
"""

import pytest

from accounts.models import ApiKey
from accounts.services import api_key_create
from billing.models import LedgerEntry
from billing.selectors import balance_get, billing_audit
from generations.models import Generation
from generations.tests.conftest import submit_async, wait_until
from generations.tests.factories import decoded

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("empty_queue", "generation_files_cleanup", "worker"),
]


@pytest.fixture(scope="module")
def worker(start_module_worker, _openai_standin_server):
    standin = _openai_standin_server
    return start_module_worker(
        IMAGE_PROVIDER="openai", OPENAI_API_KEY=standin.api_key, OPENAI_BASE_URL=standin.base_url
    )


def _client(raw_key: str):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def _finished(client, poll_url: str, worker) -> dict:
    def terminal():
        payload = client.get(poll_url).json()
        return payload if payload["status"] in {"succeeded", "failed"} else None

    try:
        return wait_until(terminal, timeout=30, what="the generation to finish", interval=0.2)
    except pytest.fail.Exception:
        pytest.fail(f"The generation did not finish; the worker's log:\n{worker.log()[-6000:]}")


def test_a_test_key_s_async_job_is_rendered_locally_for_free(make_user, openai_standin, worker):
    broke = make_user("broke@example.com")
    client = _client(api_key_create(user=broke, mode=ApiKey.Mode.TEST).raw_key)

    queued = submit_async(client, size="1024x1536", quality="high", n=2)

    assert (queued["status"], queued["livemode"], queued["usage"]["credits_requested"]) == ("queued", False, 0)
    done = _finished(client, queued["poll_url"], worker)
    assert (done["status"], done["livemode"], done["usage"]["credits"]) == ("succeeded", False, 0)
    assert len(done["images"]) == 2
    served = client.get(done["images"][0]["url"])
    assert decoded(b"".join(served.streaming_content)).size == (1024, 1536)
    assert openai_standin.requests == []
    assert LedgerEntry.objects.count() == 0
    assert balance_get(user=broke)["credits"] == 0
    assert billing_audit() == []


def test_the_same_worker_sends_a_live_key_s_job_upstream(make_user, openai_standin, worker):
    # The control: this worker does call the stand-in, so the test above could fail.
    rich = make_user("rich@example.com", credits=10)
    client = _client(api_key_create(user=rich).raw_key)

    done = _finished(client, submit_async(client, quality="low")["poll_url"], worker)

    assert (done["status"], done["livemode"], done["usage"]["credits"]) == ("succeeded", True, 1)
    assert len(openai_standin.requests) == 1
    assert Generation.objects.get().livemode is True
    assert balance_get(user=rich)["credits"] == 9
    assert billing_audit() == []
