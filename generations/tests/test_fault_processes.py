"""Processes die mid-call: the recovery sweep makes every orphan terminal (or running again) in bounded time.

Real processes on the real broker: the Procfile's gevent worker and gunicorn, SIGKILLed
while the local renderer sleeps in its provider call. Heartbeats beat every second here
(stale after 3 s), so "about 2 minutes" in production is a few seconds in the test; the
sweep (generations/recovery.py) is called the way beat calls it. Nothing waits for
Redis' visibility timeout (15 minutes in production).
"""

import threading
import time

import pytest
import requests
from django.conf import settings as django_settings

from accounts.services import api_key_create
from billing.selectors import balance_get
from generations.models import GeneratedImage, Generation
from generations.recovery import generations_recover
from generations.tests.conftest import submit_async, wait_for_status, wait_until
from generations.tests.factories import GENERATIONS_URL
from testsupport.faults import assert_books_clean
from testsupport.servers import LiveGunicorn

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("empty_queue", "generation_files_cleanup"),
]

Status = Generation.Status
HEARTBEAT = {"GENERATION_HEARTBEAT_SECONDS": "1", "GENERATION_HEARTBEAT_STALE_SECONDS": "3"}
SLOW_WORKER = {**HEARTBEAT, "LOCAL_PROVIDER_DELAY_SECONDS": "4", "GENERATION_TIMEOUT_SECONDS": "60"}
STALE = 3


@pytest.fixture(autouse=True)
def fast_heartbeats(settings):
    """This process' sweep judges staleness like the workers beat."""
    settings.GENERATION_HEARTBEAT_SECONDS = 1
    settings.GENERATION_HEARTBEAT_STALE_SECONDS = STALE
    settings.GENERATION_RECOVERY_INTERVAL_SECONDS = STALE
    settings.GENERATION_TIMEOUT_SECONDS = 60


def sweep_until(predicate, *, sweeps: int) -> int:
    """Run the sweep every stale period, as beat would, until `predicate()`; how many sweeps it took."""
    for number in range(1, sweeps + 1):
        time.sleep(STALE + 0.5)
        generations_recover()
        if predicate():
            return number
    return sweeps + 1


def settled(ids: list[str]) -> bool:
    return not Generation.objects.filter(pk__in=ids, status__in=[Status.QUEUED, Status.RUNNING]).exists()


def test_a_sigkilled_gevent_worker_s_jobs_are_taken_over_by_another_worker(api, user, start_worker):
    worker = start_worker(pool="gevent", concurrency=20, **SLOW_WORKER)
    ids = [submit_async(api)["id"] for _ in range(3)]
    wait_until(
        lambda: Generation.objects.filter(pk__in=ids, status=Status.RUNNING).count() == 3,
        timeout=60,
        what="the jobs to run",
    )
    worker.kill()
    replacement = start_worker(pool="gevent", concurrency=20, **SLOW_WORKER)

    # Sweep 1 re-queues (heartbeat stale); the new worker takes each over as attempt 2.
    sweeps = sweep_until(lambda: Generation.objects.filter(pk__in=ids, attempts=2).count() == 3, sweeps=5)
    assert sweeps <= 2, replacement.log()[-3000:]
    wait_until(lambda: settled(ids), timeout=120, what="the taken-over jobs to finish")

    for generation in Generation.objects.filter(pk__in=ids):
        assert (generation.status, generation.attempts) == (Status.SUCCEEDED, 2)
        assert GeneratedImage.objects.filter(generation=generation).count() == generation.n
    charged = sum(row.credits_charged for row in Generation.objects.filter(pk__in=ids))
    assert balance_get(user=user)["credits"] == 100 - charged
    assert_books_clean()


def test_with_no_worker_left_a_dead_worker_s_jobs_are_failed_and_refunded(api, user, start_worker):
    worker = start_worker(pool="gevent", concurrency=20, **SLOW_WORKER)
    ids = [submit_async(api, n=2)["id"] for _ in range(2)]
    wait_until(
        lambda: Generation.objects.filter(pk__in=ids, status=Status.RUNNING).count() == 2,
        timeout=60,
        what="the jobs to run",
    )
    worker.kill()

    # Re-queued once (nobody takes it), then failed once silent for twice the stale time.
    sweeps = sweep_until(lambda: settled(ids), sweeps=6)
    assert sweeps <= 3

    for generation in Generation.objects.filter(pk__in=ids):
        assert (generation.status, generation.error_code) == (Status.FAILED, "worker_lost")
        assert generation.credits_refunded == generation.credits_charged > 0
    assert balance_get(user=user)["credits"] == 100
    assert_books_clean()


def test_a_job_whose_queued_message_was_lost_is_published_again(api, user, start_worker, settings):
    from gih.celery import app

    generation_id = submit_async(api)["id"]
    app.control.purge()  # what a Redis restart without persistence does to a queued message
    start_worker(pool="gevent", concurrency=5, **HEARTBEAT)

    sweep_until(lambda: Generation.objects.filter(pk=generation_id).exclude(status=Status.QUEUED).exists(), sweeps=4)

    generation = wait_for_status(generation_id, Status.SUCCEEDED, Status.FAILED, timeout=60)
    assert generation.status == Status.SUCCEEDED
    assert_books_clean()


def test_a_sync_generation_whose_web_process_was_sigkilled_is_failed_and_refunded(
    user, worker_env, tmp_path
):
    raw_key = api_key_create(user=user).raw_key
    env = {**worker_env, **HEARTBEAT, "LOCAL_PROVIDER_DELAY_SECONDS": "30", "GENERATION_TIMEOUT_SECONDS": "60"}
    web = LiveGunicorn(env, tmp_path / "gunicorn.log").start()
    answers: list = []

    def client() -> None:
        body = {"model": "gpt-image-2", "prompt": "a web process dies", "aspect_ratio": "1:1", "quality": "1K"}
        try:
            requests.post(
                web.url + GENERATIONS_URL, json=body, headers={"Authorization": f"Bearer {raw_key}"}, timeout=120
            )
        except requests.RequestException as error:
            answers.append(error)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        generation = wait_for_status_any(timeout=60)
    finally:
        web.stop()  # SIGKILL, master and workers
    thread.join(timeout=60)
    assert answers and isinstance(answers[0], requests.ConnectionError)

    sweeps = sweep_until(lambda: settled([generation.pk]), sweeps=4)
    assert sweeps <= 2
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (Status.FAILED, "worker_lost")
    assert generation.credits_refunded == generation.credits_charged > 0
    assert balance_get(user=user)["credits"] == 100
    assert_books_clean()


def wait_for_status_any(timeout: float) -> Generation:
    return wait_until(
        lambda: Generation.objects.filter(status=Status.RUNNING).first(), timeout=timeout, what="a running generation"
    )


def test_the_sweep_runs_often_enough_to_end_an_orphan_within_two_minutes():
    """The production defaults: silent for the stale time, a sweep, and twice that for a failure: under 120 s."""
    schedule = django_settings.CELERY_BEAT_SCHEDULE["recover-orphaned-generations"]
    assert schedule["task"] == "generations.tasks.recover_orphaned_generations"
    interval = schedule["schedule"]
    stale = 3 * 15  # the defaults of GENERATION_HEARTBEAT_STALE_SECONDS, GENERATION_HEARTBEAT_SECONDS
    assert 2 * stale + interval <= 120
    visibility = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout")
    if visibility is not None:  # Redis broker
        assert django_settings.CELERY_TASK_TIME_LIMIT < visibility < django_settings.GENERATION_STUCK_AFTER_SECONDS
