"""Workers die mid-task and attempts overlap: every async generation still ends once, with the credits right.

Real workers on the real broker. The local renderer sleeps in its provider call, so
the tests can SIGKILL a worker while a generation is `running`; a 1 s heartbeat
(3 s until stale) keeps takeovers quick. The last tests drive the claim rules
(attempts.claim) in this process. A task published twice is in test_async_provider.
"""

import os
import signal
import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from kombu import Connection

from billing.models import LedgerEntry
from billing.selectors import balance_get, billing_audit
from generations.attempts import AttemptInProgress, generation_run
from generations.models import GeneratedImage, Generation
from generations.tests.conftest import submit_async, wait_for_status, wait_until
from generations.transitions import generations_reap_stuck

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("empty_queue", "generation_files_cleanup"),
]

Status = Generation.Status
PROVIDER_DELAY = 4
DURABLE_WORKER = {
    "LOCAL_PROVIDER_DELAY_SECONDS": str(PROVIDER_DELAY),
    "GENERATION_HEARTBEAT_SECONDS": "1",  # stale after 3 s
    "GENERATION_TIMEOUT_SECONDS": "30",  # time limits and the reaper's deadline stay well clear
}


def redeliver_unacknowledged() -> None:
    """Requeue the tasks a dead worker took but never acknowledged.

    A surviving worker's periodic sweep does this once the visibility timeout has
    passed (about 25 minutes in production); here it is done at once, with the same
    kombu code and a zero timeout.
    """
    with Connection(settings.CELERY_BROKER_URL, transport_options={"visibility_timeout": 0}) as broker:
        broker.default_channel.qos.restore_visible(num=100)


def image_files(generation_id: str) -> list[str]:
    folder = settings.MEDIA_ROOT / "generations" / generation_id
    return sorted(os.listdir(folder)) if folder.exists() else []


def assert_completed_once(generation: Generation, user, *, attempts: int) -> None:
    assert generation.status == Status.SUCCEEDED
    assert generation.attempts == attempts
    images = GeneratedImage.objects.filter(generation=generation)
    assert images.count() == generation.n
    assert len(image_files(generation.pk)) == generation.n  # no orphans from the dead attempt
    charges = LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.CHARGE)
    assert -sum(entry.amount for entry in charges) == generation.credits_charged
    assert not LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.REFUND).exists()
    assert balance_get(user=user)["credits"] == 100 - generation.credits_charged
    assert billing_audit() == []


def test_it_completes_a_generation_once_after_its_pool_process_is_killed_mid_task(api, user, start_worker):
    worker = start_worker(**DURABLE_WORKER)
    generation_id = submit_async(api, n=2)["id"]
    wait_for_status(generation_id, Status.RUNNING, timeout=10)

    [pool_process] = worker.children()
    os.kill(pool_process, signal.SIGKILL)

    # reject_on_worker_lost requeues the task at once; the redelivery waits for the dead
    # attempt's heartbeat to go stale, then takes over as attempt 2.
    generation = wait_for_status(generation_id, Status.SUCCEEDED, Status.FAILED, timeout=30)
    assert "WorkerLostError" in worker.log()
    assert_completed_once(generation, user, attempts=2)


def test_it_completes_a_generation_once_when_a_whole_killed_worker_is_replaced(api, user, start_worker):
    worker = start_worker(**DURABLE_WORKER)
    generation_id = submit_async(api)["id"]
    wait_for_status(generation_id, Status.RUNNING, timeout=10)

    worker.kill()
    assert Generation.objects.get(pk=generation_id).status == Status.RUNNING
    redeliver_unacknowledged()
    start_worker(**DURABLE_WORKER)

    generation = wait_for_status(generation_id, Status.SUCCEEDED, Status.FAILED, timeout=30)
    assert_completed_once(generation, user, attempts=2)


def test_it_refunds_a_dead_workers_generation_once_when_the_reaper_gets_there_first(api, user, start_worker):
    worker = start_worker(**DURABLE_WORKER)
    generation_id = submit_async(api, n=3)["id"]
    wait_for_status(generation_id, Status.RUNNING, timeout=10)
    worker.kill()

    past_the_limit = timezone.now() + timedelta(seconds=settings.GENERATION_STUCK_AFTER_SECONDS + 1)
    assert generations_reap_stuck(now=past_the_limit) == 1
    # The task comes back after all: it must leave the reaped generation alone.
    redeliver_unacknowledged()
    late = start_worker(**DURABLE_WORKER)
    late.wait_for_log("succeeded in", timeout=15)

    generation = Generation.objects.get(pk=generation_id)
    assert (generation.status, generation.error_code, generation.attempts) == (Status.FAILED, "timeout", 1)
    assert generation.credits_refunded == generation.credits_charged > 0
    assert LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.REFUND).count() == 1
    assert not GeneratedImage.objects.filter(generation=generation).exists()
    assert balance_get(user=user)["credits"] == 100
    assert billing_audit() == []


def test_it_fails_a_task_past_its_soft_time_limit_as_a_timeout_and_refunds_it(api, user, start_worker):
    # Timeout 1 s + grace 1 s: the soft limit fires 2 s in, during the renderer's 6 s call; the hard one at 3 s.
    # (Celery's gevent pool has no soft limit: there the hard limit ends the task and the reaper refunds.)
    start_worker(
        LOCAL_PROVIDER_DELAY_SECONDS="6",
        GENERATION_TIMEOUT_SECONDS="1",
        GENERATION_TASK_GRACE_SECONDS="1",
    )
    generation_id = submit_async(api, n=2)["id"]

    generation = wait_for_status(generation_id, Status.FAILED, Status.SUCCEEDED, timeout=15)

    assert (generation.status, generation.error_code) == (Status.FAILED, "timeout")
    assert generation.credits_refunded == generation.credits_charged > 0
    assert balance_get(user=user)["credits"] == 100
    assert billing_audit() == []


def test_it_does_nothing_when_a_finished_generation_is_run_again(api, user):
    generation_id = submit_async(api)["id"]  # no worker here: the test runs the job itself

    assert generation_run(generation_id=generation_id).status == Status.SUCCEEDED
    assert generation_run(generation_id=generation_id).status == Status.SUCCEEDED

    assert_completed_once(Generation.objects.get(pk=generation_id), user, attempts=1)


def test_it_leaves_a_generation_with_a_beating_attempt_alone(api, user):
    generation_id = submit_async(api)["id"]
    now = timezone.now()
    Generation.objects.filter(pk=generation_id).update(
        status=Status.RUNNING, attempts=1, started_at=now, heartbeat_at=now
    )

    with pytest.raises(AttemptInProgress) as waiting:
        generation_run(generation_id=generation_id)

    assert 0 < waiting.value.retry_in <= settings.GENERATION_HEARTBEAT_STALE_SECONDS + 1
    generation = Generation.objects.get(pk=generation_id)
    assert (generation.status, generation.attempts, generation.heartbeat_at) == (Status.RUNNING, 1, now)
    assert not GeneratedImage.objects.filter(generation=generation).exists()


def test_it_completes_once_when_an_attempt_presumed_dead_wakes_up_after_a_takeover(api, user, settings):
    settings.LOCAL_PROVIDER_DELAY_SECONDS = 2
    settings.GENERATION_HEARTBEAT_SECONDS = 60  # attempt 1 stays silent, as if frozen
    settings.GENERATION_HEARTBEAT_STALE_SECONDS = 0.3
    generation_id = submit_async(api, n=2)["id"]
    first_ended = []

    def first_attempt() -> None:
        try:
            generation_run(generation_id=generation_id)
            first_ended.append(timezone.now())
        finally:
            connection.close()

    frozen = threading.Thread(target=first_attempt)
    frozen.start()
    wait_for_status(generation_id, Status.RUNNING, timeout=5)
    wait_until(
        lambda: Generation.objects.get(pk=generation_id).heartbeat_at < timezone.now() - timedelta(seconds=0.8),
        timeout=5,
        what="attempt 1 to look dead",
    )
    taken_over = generation_run(generation_id=generation_id)  # attempt 2, while attempt 1 still runs
    frozen.join(timeout=10)

    assert not frozen.is_alive() and first_ended
    assert taken_over.status == Status.SUCCEEDED
    generation = Generation.objects.get(pk=generation_id)
    assert_completed_once(generation, user, attempts=2)
    # Attempt 1 finished first, yet the images are attempt 2's: the superseded attempt dropped its own.
    assert all(image.created_at > first_ended[0] for image in generation.images.all())


def test_it_fails_and_refunds_a_dead_generation_with_no_attempt_left(api, user):
    generation_id = submit_async(api, n=2)["id"]
    long_ago = timezone.now() - timedelta(seconds=settings.GENERATION_HEARTBEAT_STALE_SECONDS + 1)
    Generation.objects.filter(pk=generation_id).update(
        status=Status.RUNNING, attempts=settings.GENERATION_MAX_ATTEMPTS, started_at=long_ago, heartbeat_at=long_ago
    )

    generation = generation_run(generation_id=generation_id)

    assert (generation.status, generation.error_code) == (Status.FAILED, "worker_lost")
    assert generation.credits_refunded == generation.credits_charged > 0
    assert not GeneratedImage.objects.filter(generation=generation).exists()
    assert balance_get(user=user)["credits"] == 100
    assert billing_audit() == []
