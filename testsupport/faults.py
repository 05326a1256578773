"""Helpers shared by the fault tests: point this process' Celery app at a private broker, check the books."""

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def publishing_to(broker_url: str) -> Iterator[None]:
    """Make this process publish tasks to `broker_url` (a private Redis) for the block's duration.

    The Celery app caches its connection and producer pools; dropping them (what Celery
    itself does after a fork) makes the next publish connect to the new URL.
    """
    from gih.celery import app

    names = ("broker_url", "broker_write_url", "broker_read_url")
    previous = {name: app.conf[name] for name in names}
    app.conf.update(dict.fromkeys(names, broker_url))
    app._after_fork()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            app.pool.force_close_all()
        app.conf.update(previous)
        app._after_fork()


def assert_books_clean() -> None:
    """billing_audit finds nothing: every batch equals its ledger, every generation its charges and refunds."""
    from billing.selectors import billing_audit

    problems = billing_audit()
    assert problems == [], problems


def assert_no_deadlocks(postgres_log: str) -> None:
    assert "deadlock detected" not in postgres_log, postgres_log[-4000:]
