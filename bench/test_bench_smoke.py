"""The benchmark still runs end to end: `bench/run.py --quick` exits 0 and prints every figure.

No timing is asserted here (the figures are read by people, in bench/RESULTS.md). It uses its own
database, Redis db and log folder, so it does not disturb a `make bench` running beside it.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

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


def test_it_prints_every_figure_in_quick_mode(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL", "PYTEST_"))
    }
    env.update(
        BENCH_DATABASE="gih_bench_smoke",
        BENCH_REDIS_URL=os.environ.get("BENCH_SMOKE_REDIS_URL", "redis://127.0.0.1:6379/13"),
        BENCH_OUT=str(tmp_path),
    )
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    printed = {line.split(":", 1)[0].removeprefix("FIGURE ") for line in result.stdout.splitlines()}
    assert [name for name in FIGURES if name not in printed] == [], output[-4000:]
