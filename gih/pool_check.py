"""The check the connection pool runs on every connection it hands out: a round trip only when needed.

psycopg's own check (ConnectionPool.check_connection) sends an empty query each time: one round trip
before every request's first query, a third of all the round trips of GET /api/v1/credits
(bench/RESULTS.md). What it guards against is a connection the server closed while it sat in the pool:
a Postgres restart or failover, pg_terminate_backend, an idle timeout. The server then sends its error
and closes the socket, so the socket turns readable. An idle pooled connection has nothing to read
otherwise: a quiet socket (one poll, no round trip) is handed out as it is, and anything else gets
psycopg's full check, which replaces the connection if it is dead.

Not caught, as with the empty query too: a server that dies after the look. gih/db.py retries the
writes that must survive that.

It replaces the check Django gives the pool (CONN_HEALTH_CHECKS, from DB_POOL_CHECK): Django builds the pool
itself and passes psycopg's check, and psycopg_pool takes a check only when it is built, so
install_pool_check() swaps the pool's `_check` at its first connection. psycopg_pool is pinned in
requirements.txt, and gih/tests/test_pool_check.py fails if that attribute stops being the check it runs.
"""

from django.db.backends.signals import connection_created
from psycopg_pool import ConnectionPool

from gih.socket_look import socket_quiet


def check_pooled_connection(conn) -> None:
    """Return quietly if `conn` can be handed out; raise if it is dead (the pool then replaces it)."""
    if not conn.closed and _socket_quiet(conn):
        return
    ConnectionPool.check_connection(conn)


def _socket_quiet(conn) -> bool:
    try:
        return socket_quiet(conn.pgconn.socket)
    except Exception:  # no socket (closed) or any surprise: let the full check decide
        return False


def install_pool_check() -> None:
    """From the next connection on, each database pool that Django gave psycopg's check (DB_POOL_CHECK) uses
    check_pooled_connection. Django builds a pool at its first connection (and anew after closing it, as the
    test runner does), so the swap happens as connections are made, not at start-up."""
    connection_created.connect(_use_our_check, dispatch_uid="gih.pool_check")


def _use_our_check(sender, connection, **kwargs) -> None:
    pool = getattr(connection, "pool", None)
    if pool is not None and getattr(pool, "_check", None) is ConnectionPool.check_connection:
        pool._check = check_pooled_connection
