"""The pool's check (gih/pool_check.py): a quiet connection is handed out without a round trip, a dead one never;
and the statements on its connections are prepared (DB_PREPARED_STATEMENTS)."""

import psycopg
import pytest
from django.db import connection

from gih.pool_check import check_pooled_connection

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgres_pool():
    if connection.vendor != "postgresql" or not connection.settings_dict["OPTIONS"].get("pool"):
        pytest.skip("needs PostgreSQL with the connection pool")


@pytest.fixture
def admin():
    """A connection of our own, outside the pool, to watch and terminate the pool's."""
    database = connection.settings_dict
    params = {"dbname": database["NAME"], "user": database["USER"], "host": database["HOST"] or "127.0.0.1"}
    with psycopg.connect(**params, port=database["PORT"] or 5432, password=database["PASSWORD"], autocommit=True) as c:
        yield c


def _last_statement(admin, pid: int) -> str:
    return admin.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()[0]


def test_the_pool_runs_this_check():
    connection.ensure_connection()
    assert connection.pool._check is check_pooled_connection


def test_a_quiet_connection_passes_without_a_round_trip(admin):
    conn = connection.pool.getconn()
    try:
        conn.execute("SELECT 'before the check'")
        check_pooled_connection(conn)
        assert _last_statement(admin, conn.info.backend_pid) == "SELECT 'before the check'"
    finally:
        connection.pool.putconn(conn)


def test_a_connection_the_server_closed_fails_the_check(admin):
    conn = connection.pool.getconn()
    try:
        assert admin.execute("SELECT pg_terminate_backend(%s, 5000)", [conn.info.backend_pid]).fetchone()[0]
        with pytest.raises(psycopg.OperationalError):
            check_pooled_connection(conn)
    finally:
        connection.pool.putconn(conn)  # a broken connection is discarded, not pooled again


def test_the_pool_replaces_connections_the_server_closed_while_they_were_idle(admin):
    connection.ensure_connection()  # the pool runs our check from now on
    connection.close()
    pool = connection.pool
    taken = [pool.getconn() for _ in range(2)]
    pids = [conn.info.backend_pid for conn in taken]
    for conn in taken:
        pool.putconn(conn)
    for pid in pids:
        assert admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone()[0]
    for _ in range(4):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            assert cursor.fetchone()[0] not in pids
        connection.close()


def test_the_statements_every_request_repeats_are_prepared_on_their_connection():
    """DB_PREPARED_STATEMENTS (on by default): the second run of a statement uses a prepared plan."""
    with connection.cursor() as cursor:
        for _ in range(2):
            cursor.execute("SELECT count(*) FROM accounts_user WHERE id > %s", [0])
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("FROM accounts_user WHERE id > $1" in statement for statement in prepared), prepared
