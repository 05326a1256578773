"""Redis (the broker) stops and starts while jobs run: the gevent worker comes back at full speed.

A private redis-server (testsupport/servers.py), so the restart hurts no other test run.
Before the fix, Celery's gevent pool reported its *running* greenlets as its size: after a
reconnect with jobs in flight it cut the prefetch count to 1 and, since the gevent pool's
loop sends acknowledgements only between 2 s waits for the broker, took one job every 2 s
until restarted (20 quick jobs: 38 s instead of 1 s). CELERY_WORKER_ENABLE_PREFETCH_COUNT_REDUCTION
is off (gih/settings.py). The test asserts how many jobs ran side by side, not how fast.
"""

import pytest

from billing.selectors import balance_get
from generations.models import Generation
from generations.tests.conftest import submit_async, wait_until
from testsupport.faults import assert_books_clean, publishing_to
from testsupport.servers import PrivateRedis

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("generation_files_cleanup")]

Status = Generation.Status
PROVIDER_DELAY = 6  # long enough that jobs picked up together overlap even on a slow machine


@pytest.fixture
def private_redis():
    with PrivateRedis() as redis:
        yield redis


def most_running_at_once(generation_ids: list[str]) -> int:
    """From the rows' start and finish times: the largest number of these jobs that ran at the same instant."""
    spans = Generation.objects.filter(pk__in=generation_ids).values_list("started_at", "finished_at")
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def wait_all_succeeded(generation_ids: list[str], timeout: float) -> None:
    wait_until(
        lambda: Generation.objects.filter(pk__in=generation_ids, status=Status.SUCCEEDED).count()
        == len(generation_ids),
        timeout=timeout,
        what="every job to succeed",
        interval=0.2,
    )


def test_it_runs_jobs_side_by_side_after_a_broker_restart_with_jobs_in_flight(
    api, user, private_redis, start_worker
):
    broker = private_redis.url()
    worker = start_worker(
        pool="gevent", concurrency=50, CELERY_BROKER_URL=broker, LOCAL_PROVIDER_DELAY_SECONDS=str(PROVIDER_DELAY)
    )
    with publishing_to(broker):
        in_flight = [submit_async(api)["id"] for _ in range(3)]
        wait_until(
            lambda: Generation.objects.filter(pk__in=in_flight, status=Status.RUNNING).count() == 3,
            timeout=60,
            what="the first jobs to run",
        )
        private_redis.stop()
        private_redis.start()
        wait_all_succeeded(in_flight, timeout=120)

        after = [submit_async(api)["id"] for _ in range(8)]
        wait_all_succeeded(after, timeout=240)

    assert "Temporarily reducing the prefetch count" not in worker.log()
    # Serial pickup (the bug) gives 1; picked up as they came, all 8 overlap.
    assert most_running_at_once(after) >= 6
    rows = Generation.objects.filter(pk__in=in_flight + after)
    assert all(row.attempts == 1 for row in rows), "a live job was taken over after the restart"
    charged = sum(row.credits_charged - row.credits_refunded for row in rows)
    assert balance_get(user=user)["credits"] == 100 - charged
    assert_books_clean()
