"""A synchronous generation holds no database connection while the provider works.

How it is measured, without touching the code under test: the request runs in its own
thread against the local renderer, slowed down with LOCAL_PROVIDER_DELAY_SECONDS, while
this thread samples two things over and over:

- the generation's status, from the database, and
- how many connections this process has checked out right now: with psycopg's pool
  (DB_POOL, the default on Postgres) that is the pool's size minus its idle connections,
  since a connection given back to the pool stays open but idle; without the pool it is
  the number of client backends connected to the test database (pg_stat_activity).

Before the request, the worker thread runs one query and waits: the count must then be
one more than this thread's baseline, which shows the measurement sees the worker's
connection. While the status is `running` (claimed, provider not yet answered), some
sample must be back at the baseline: the worker gave its connection back. If the
connection were held across the provider call, every `running` sample would show the
worker's connection and the test would fail.
"""

import threading

import pytest
from django.db import connection

from billing.selectors import balance_get, billing_audit
from generations.models import Generation
from generations.tests.factories import GENERATIONS_URL, api_client_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_cleanup")]


def connections_in_use() -> int:
    """Database connections this process has checked out now, this thread's included."""
    with connection.cursor() as cursor:  # make sure this thread holds its own first
        pool = connection.pool
        if pool is not None:
            stats = pool.get_stats()
            return stats["pool_size"] - stats["pool_available"]
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND backend_type = 'client backend'"
        )
        return cursor.fetchone()[0]


def generation_status() -> str | None:
    return Generation.objects.values_list("status", flat=True).first()


def test_it_holds_no_database_connection_during_the_provider_call(make_user, settings):
    settings.LOCAL_PROVIDER_DELAY_SECONDS = 1.5
    owner = make_user("patient@example.com", credits=10)
    client = api_client_for(owner)
    holding, go = threading.Event(), threading.Event()
    outcome: dict = {}

    def request() -> None:
        try:
            list(Generation.objects.all())  # check a connection out, as a request does on arrival
            holding.set()
            go.wait(timeout=30)
            outcome["response"] = client.post(
                GENERATIONS_URL,
                {"model": "gpt-image-2", "prompt": "Slow render", "size": "1024x1024", "quality": "low"},
            )
        except Exception as error:
            outcome["error"] = error
        finally:
            holding.set()
            connection.close()

    baseline = connections_in_use()
    worker = threading.Thread(target=request)
    worker.start()
    assert holding.wait(timeout=30)
    with_worker = connections_in_use()
    go.set()

    samples = []
    while worker.is_alive():
        samples.append((generation_status(), connections_in_use()))
        worker.join(timeout=0.02)

    assert "error" not in outcome, outcome.get("error")
    assert outcome["response"].status_code == 200, outcome["response"].content
    assert with_worker == baseline + 1  # the measurement counts the worker's connection
    during_provider_call = [in_use for status, in_use in samples if status == Generation.Status.RUNNING]
    assert during_provider_call, "never saw the generation running"
    assert baseline in during_provider_call, f"the worker kept its connection: {samples}"
    assert connections_in_use() == baseline
    assert balance_get(user=owner)["credits"] == 9
    assert billing_audit() == []
