"""psycopg's waits under gevent through one io watcher (gih/pg_wait.py), run in a gevent process on Postgres."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from psycopg import waiting

from gih.pg_wait import install_pg_wait, wait_gevent

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg waits: PostgreSQL only")

SCRIPT = r"""
import json, sys, time
from gevent import monkey
monkey.patch_all()
import select
import gevent, psycopg
from psycopg import errors, generators, waiting

polls = []
gevent_poll = select.poll
select.poll = lambda: polls.append(1) or gevent_poll()

from gih.pg_wait import install_pg_wait, wait_gevent
if sys.argv[2] == "ours":
    install_pg_wait()
    assert waiting.wait is wait_gevent
conninfo = sys.argv[1]
out = {}

def sleep_on_own_connection(seconds):
    with psycopg.connect(conninfo) as conn:
        return conn.execute("SELECT pg_sleep(%s), 1", [seconds]).fetchone()[1]

ticks = []
ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.01)) for _ in range(1000)])
started = time.monotonic()
out["parallel"] = [job.get() for job in [gevent.spawn(sleep_on_own_connection, 0.4) for _ in range(3)]]
out["parallel_seconds"] = time.monotonic() - started
out["ticks"] = len(ticks)
ticker.kill()

with psycopg.connect(conninfo) as conn:
    out["large_result"] = len(conn.execute("SELECT repeat('x', 5000000)").fetchone()[0])
    out["large_parameter"] = conn.execute("SELECT length(%s)", ["y" * 8000000]).fetchone()[0]
    out["rows"] = len(conn.execute("SELECT generate_series(1, 200000)").fetchall())

conn = psycopg.connect(conninfo, autocommit=True)
conn.pgconn.send_query(b"SELECT pg_sleep(3)")
started = time.monotonic()
try:
    waiting.wait(generators.execute(conn.pgconn), conn.pgconn.socket, interval=0.1, timeout=0.3)
    out["deadline"] = "no timeout"
except errors._WaitTimeout:
    out["deadline"] = time.monotonic() - started
conn.close()

victim, killer = psycopg.connect(conninfo), psycopg.connect(conninfo, autocommit=True)
def kill_soon():
    gevent.sleep(0.3)
    killer.execute("SELECT pg_terminate_backend(%s)", [victim.info.backend_pid])
gevent.spawn(kill_soon)
started = time.monotonic()
try:
    victim.execute("SELECT pg_sleep(5)")
    out["killed"] = "no error"
except psycopg.OperationalError as error:
    out["killed"] = time.monotonic() - started  # AdminShutdown, an OperationalError
out["gevent_polls"] = len(polls)
print(json.dumps(out))
"""


@pytest.fixture
def conninfo(db):
    settings = connection.settings_dict
    return (
        f"host={settings['HOST'] or '127.0.0.1'} port={settings['PORT'] or 5432} "
        f"user={settings['USER']} dbname={settings['NAME']}"
    )


@pytest.fixture
def run_gevent(conninfo):
    def run(which: str) -> dict:
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT, conninfo, which],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    return run


def test_outside_gevent_psycopg_keeps_its_own_wait():
    install_pg_wait()
    assert waiting.wait is not wait_gevent


def test_under_gevent_statements_wait_on_the_hub_and_answer_in_full(run_gevent):
    out = run_gevent("ours")

    assert out["parallel"] == [1, 1, 1]
    assert out["parallel_seconds"] < 1.0, out  # three 0.4 s statements at once, not one after the other
    assert out["ticks"] >= 20, out  # other greenlets ran meanwhile
    assert out["large_result"] == 5_000_000 and out["large_parameter"] == 8_000_000 and out["rows"] == 200_000
    assert 0.25 <= out["deadline"] < 1.0, out
    assert out["killed"] < 2.0, out  # the error, at once: not a wait for the 5 s statement


def test_under_gevent_it_waits_without_gevents_poll(run_gevent):
    """psycopg's own choice under gevent (wait_poll) goes through gevent's poll on every wait; ours never does."""
    assert run_gevent("ours")["gevent_polls"] == 0
    theirs = run_gevent("theirs")
    assert theirs["gevent_polls"] > 10
    assert theirs["large_result"] == 5_000_000 and theirs["killed"] < 2.0


def test_the_app_installs_it_in_a_gevent_process(conninfo):
    """gih/apps.py installs it at start-up: a gevent worker's psycopg waits through wait_gevent."""
    script = (
        "from gevent import monkey; monkey.patch_all()\n"
        "import django; django.setup()\n"
        "from psycopg import waiting; from gih.pg_wait import wait_gevent\n"
        "print(waiting.wait is wait_gevent)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "True"
