"""The hub's own metrics: generations, credits and provider calls, in one process and across gunicorn workers."""

import os
import signal
from pathlib import Path

import pytest
import requests
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from accounts.services import api_key_create
from generations.models import Generation
from generations.tests.conftest import wait_for_status, wait_until
from testsupport.servers import LiveGunicorn

TOKEN = "metrics-token-for-tests"
GENERATE = "/api/v1/images/generations"
BODY = {"model": "gpt-image-2", "prompt": "a lighthouse at dusk", "quality": "1K"}
SUCCEEDED = {"model": "gpt-image-2", "quality": "1K", "face": "api", "status": "succeeded", "error_code": ""}
FAILED = {**SUCCEEDED, "status": "failed", "error_code": "moderation_blocked"}
SUCCEEDED_KEY = ("gih_generations_total", tuple(sorted(SUCCEEDED.items())))


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.django_db
def test_it_counts_generations_credits_and_provider_calls(
    api, openai_standin, django_capture_on_commit_callbacks, media_cleanup
):
    names = {
        "succeeded": ("gih_generations_total", SUCCEEDED),
        "failed": ("gih_generations_total", FAILED),
        "charged": ("gih_credits_charged_total", {}),
        "refunded": ("gih_credits_refunded_total", {}),
        "ok": ("gih_provider_request_seconds_count", {"provider": "openai", "outcome": "ok"}),
        "blocked": ("gih_provider_request_seconds_count", {"provider": "openai", "outcome": "moderation_blocked"}),
    }
    before = {key: value(name, **labels) for key, (name, labels) in names.items()}

    with django_capture_on_commit_callbacks(execute=True):
        ok = api.post(GENERATE, BODY, format="json")
    openai_standin.set_mode("moderation_400")
    with django_capture_on_commit_callbacks(execute=True):
        refused = api.post(GENERATE, BODY, format="json")

    assert ok.status_code == 200 and refused.status_code != 200
    price = Generation.objects.get(pk=ok.json()["id"]).credits_charged
    added = {key: value(name, **labels) - before[key] for key, (name, labels) in names.items()}
    assert added == {"succeeded": 1, "failed": 1, "charged": 2 * price, "refunded": price, "ok": 1, "blocked": 1}


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    response = requests.get(url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def counted_by(multiproc_dir: Path) -> set[int]:
    """The processes whose metric files hold a generation count (files are named <kind>_<pid>.db)."""
    return {
        int(path.stem.rsplit("_", 1)[1])
        for path in multiproc_dir.glob("counter_*.db")
        if b"gih_generations_total" in path.read_bytes()
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("generation_files_cleanup")
def test_two_gunicorn_workers_count_a_success_and_a_failure_together(user, worker_env, openai_standin, tmp_path):
    multiproc_dir = tmp_path / "metrics"
    multiproc_dir.mkdir()
    env = {
        **worker_env,
        "IMAGE_PROVIDER": "openai",
        "OPENAI_BASE_URL": openai_standin.base_url,
        "OPENAI_API_KEY": openai_standin.api_key,
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir),
        "METRICS_TOKEN": TOKEN,
        "WEB_TIMEOUT": "300",  # a worker is stopped (SIGSTOP) for a moment below: not a hung worker
    }
    headers = {"Authorization": f"Bearer {api_key_create(user=user).raw_key}"}
    with LiveGunicorn(env, tmp_path / "gunicorn.log", workers=2) as web:
        wait_until(lambda: len(web.worker_pids()) == 2 and web.log().count("Froze") == 2, timeout=60, what="2 workers")
        ok = requests.post(web.url + GENERATE, json=BODY, headers=headers, timeout=120)
        assert ok.status_code == 200, ok.text
        (first,) = counted_by(multiproc_dir)
        # The failure goes to the other worker: the first one cannot accept while stopped.
        openai_standin.set_mode("moderation_400")
        os.kill(first, signal.SIGSTOP)
        try:
            refused = requests.post(web.url + GENERATE, json=BODY, headers=headers, timeout=120)
        finally:
            os.kill(first, signal.SIGCONT)
        assert refused.status_code != 200, refused.text
        assert len(counted_by(multiproc_dir)) == 2

        price = Generation.objects.get(pk=ok.json()["id"]).credits_charged
        expected = {
            SUCCEEDED_KEY: 1.0,
            ("gih_generations_total", tuple(sorted(FAILED.items()))): 1.0,
            ("gih_credits_charged_total", ()): 2.0 * price,
            ("gih_credits_refunded_total", ()): 1.0 * price,
        }
        samples = scrape(web.url)
        assert {key: samples.get(key) for key in expected} == expected

        # A worker that dies keeps its counts in the sum (child_exit marks it dead; counters never go back).
        os.kill(first, signal.SIGKILL)
        wait_until(
            lambda: first not in web.worker_pids() and len(web.worker_pids()) == 2, timeout=60, what="a new worker"
        )
        samples = scrape(web.url)
        assert {key: samples.get(key) for key in expected} == expected


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("empty_queue", "generation_files_cleanup")
def test_the_celery_worker_s_counts_appear_on_the_web_process_metrics(user, worker_env, start_worker, tmp_path):
    multiproc_dir = tmp_path / "metrics"
    multiproc_dir.mkdir()
    shared = {"PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir), "METRICS_TOKEN": TOKEN}
    worker = start_worker(pool="gevent", concurrency=2, **shared)
    headers = {"Authorization": f"Bearer {api_key_create(user=user).raw_key}"}
    with LiveGunicorn({**worker_env, **shared}, tmp_path / "gunicorn.log") as web:
        queued = requests.post(web.url + GENERATE, json={**BODY, "async": True}, headers=headers, timeout=60)
        assert queued.status_code == 202, queued.text
        wait_for_status(queued.json()["id"], Generation.Status.SUCCEEDED, timeout=60)
        samples = wait_until(
            lambda: (found := scrape(web.url)).get(SUCCEEDED_KEY) and found, timeout=30, what="the worker's count"
        )

    assert worker.process.pid in counted_by(multiproc_dir)
    assert samples[("gih_provider_request_seconds_count", (("outcome", "ok"), ("provider", "local")))] == 1
    assert samples[("gih_queue_depth", ())] == 0
