"""Connections that die under the hub (a Postgres restart, a failover, an admin's pg_terminate_backend).

In-process and on the test database: terminating our own backends from a second
connection kills them exactly as a restart does, without touching the server other
test runs share. (A full restart with requests in flight is tests in test_fault_postgres.)
"""

import psycopg
import pytest
from django.db import connection

from accounts.models import User
from gih.db import is_disconnect, retry_on_disconnect

pytestmark = pytest.mark.django_db(transaction=True)


def terminate(pids: list[int]) -> int:
    """Kill these backends from a second connection, as a restart or an admin would; how many died."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as admin:
        query = "SELECT count(pg_terminate_backend(pid)) FROM unnest(%s::int[]) AS pid"
        return admin.execute(query, [pids]).fetchone()[0]


def idle_pooled_pids() -> list[int]:
    """Backends of the connections waiting in this process' pool (psycopg_pool keeps them in `_pool`)."""
    return [conn.info.backend_pid for conn in list(connection.pool._pool)]


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql" or not connection.settings_dict["OPTIONS"].get("pool"):
        pytest.skip("needs PostgreSQL with the connection pool")


def test_it_replaces_pooled_connections_that_died_while_idle():
    User.objects.count()
    connection.close()  # back to the pool, idle
    assert terminate(idle_pooled_pids()) >= 1

    # The pool checks each connection it hands out and replaces the dead ones.
    for _ in range(5):
        assert User.objects.count() == 0
        connection.close()


def test_it_retries_a_write_on_a_fresh_connection_after_a_disconnect(make_user):
    calls = []

    def write():
        calls.append(1)
        if len(calls) == 1:
            User.objects.count()
            terminate([connection.connection.info.backend_pid])  # our own connection dies mid-write
        return make_user("survivor@example.com")

    user = retry_on_disconnect(write, what="test write")

    assert len(calls) == 2
    assert User.objects.filter(pk=user.pk).exists()


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
