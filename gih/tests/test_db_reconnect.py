"""Connections that die under the hub (a Postgres restart, a failover, an admin's pg_terminate_backend).

In-process and on the test database: terminating our own backends from a second
connection kills them exactly as a restart does, without touching the server other
test runs share. (A full restart with requests in flight is tests in test_fault_postgres.)
"""

import json
import os
import subprocess
import sys

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from gih.db import is_disconnect, retry_on_disconnect

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql" or not connection.settings_dict["OPTIONS"].get("pool"):
        pytest.skip("needs PostgreSQL with the connection pool")


# Run in a fresh process: its pool is the web process' pool, untouched by the connections earlier
# tests in this process borrowed (a pool they left busy would make this wait, not prove anything).
SCRIPT = r"""
import json
import os

import django
import psycopg

os.environ["DJANGO_SETTINGS_MODULE"] = "gih.settings"
django.setup()
from django.db import connection

from gih.db import retry_on_disconnect


def terminate(pids):
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as admin:
        # Waits until each backend has exited, as after a restart: the pool's check looks at the socket
        # (gih/pool_check.py), which says so once the server has closed it.
        query = "SELECT count(pg_terminate_backend(pid, 5000)) FROM unnest(%s::int[]) AS pid"
        return admin.execute(query, [pids]).fetchone()[0]


def count():
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM accounts_user")
        return cursor.fetchone()[0]


report = {}
count()
connection.close()  # back to the pool, idle
report["killed_idle"] = terminate([conn.info.backend_pid for conn in list(connection.pool._pool)])
answers = []
for _ in range(5):  # the pool checks what it hands out and replaces the dead
    answers.append(count())
    connection.close()
report["after_idle_deaths"] = answers

calls = []


def write():
    calls.append(1)
    if len(calls) == 1:
        count()
        terminate([connection.connection.info.backend_pid])  # our own connection dies mid-write
    with connection.cursor() as cursor:
        cursor.execute("SELECT 42")
        return cursor.fetchone()[0]


report["retried_write"] = retry_on_disconnect(write, what="test write")
report["write_calls"] = len(calls)
print(json.dumps(report))
"""


def run_in_fresh_process(**env: str) -> dict:
    settings_dict = connection.settings_dict
    url = (
        f"postgres://{settings_dict['USER']}@{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}"
        f"/{settings_dict['NAME']}"
    )
    environment = {**os.environ, "DATABASE_URL": url, **env}
    environment.pop("PYTEST_CURRENT_TEST", None)
    command = [sys.executable, "-c", SCRIPT]
    result = subprocess.run(command, cwd=settings.BASE_DIR, env=environment, capture_output=True, text=True, timeout=99)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_it_replaces_pooled_connections_that_died_and_retries_a_write_on_a_fresh_one():
    report = run_in_fresh_process()
    assert report["killed_idle"] >= 1
    assert len(report["after_idle_deaths"]) == 5
    assert (report["retried_write"], report["write_calls"]) == (42, 2)


def test_it_does_not_retry_an_ordinary_database_error():
    from django.db import IntegrityError

    calls = []

    def write():
        calls.append(1)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1/0")

    with pytest.raises(Exception) as raised:
        retry_on_disconnect(write, what="test write")
    assert not is_disconnect(raised.value)
    assert not isinstance(raised.value, IntegrityError)
    assert len(calls) == 1


def test_inside_a_transaction_it_runs_the_write_once():
    from django.db import transaction

    calls = []
    with transaction.atomic():
        assert retry_on_disconnect(lambda: calls.append(1) or "done", what="test write") == "done"
    assert calls == [1]


def test_a_lost_database_answers_503_with_retry_after_not_a_bare_500(rf):
    from django.db import OperationalError

    from gih.errors import ApiErrorMiddleware

    try:
        try:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        except psycopg.OperationalError as cause:
            raise OperationalError("server closed the connection unexpectedly") from cause
    except OperationalError as error:
        response = ApiErrorMiddleware(lambda request: None).process_exception(rf.get("/api/v1/credits"), error)

    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert b'"code": "service_unavailable"' in response.content
