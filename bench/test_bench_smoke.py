"""The benchmark still runs end to end: `bench/run.py --quick` exits 0 and prints every figure.

No timing is asserted here (the figures are read by people, in bench/RESULTS.md). Each run has its own
database (dropped afterwards), its own private redis-server and log folder, so two test runs on one machine
(or a `make bench` beside them) never flush each other's queues or databases.
"""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
FIGURES = (
    "gateway_overhead_p50",
    "gateway_overhead_p99",
    "credits_throughput",
    "inflight_held",
    "inflight_memory",
    "inflight_db_connections",
    "inflight_credits_p99",
    "charging_hot_user",
    "charging_audit",
    "async_202_p99",
    "async_enqueue_to_start",
)

pytestmark = pytest.mark.skipif(
    not (ROOT / "testsupport" / "openai_standin.py").exists() or shutil.which("pg_isready") is None,
    reason="needs testsupport/openai_standin.py and a local PostgreSQL",
)


@pytest.fixture
def private_redis_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def smoke_database():
    name = f"gih_bench_smoke_{os.getpid()}"
    yield name
    postgres = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
    with psycopg.connect(f"{postgres}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server for a private instance")
def test_it_prints_every_figure_in_quick_mode(tmp_path, private_redis_url, smoke_database):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL", "PYTEST_"))
    }
    env.update(
        BENCH_DATABASE=smoke_database,
        BENCH_REDIS_URL=private_redis_url,
        BENCH_OUT=str(tmp_path),
    )
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,  # seconds on a quiet machine; generous for a loaded CI box (a hang still ends)
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    printed = {line.split(":", 1)[0].removeprefix("FIGURE ") for line in result.stdout.splitlines()}
    assert [name for name in FIGURES if name not in printed] == [], output[-4000:]
