"""Run the benchmarks: `make bench` (or `.venv/bin/python bench/run.py [--quick] [--only NAME,...]`).

Starts a fresh stack (bench/stack.py), runs the scenarios of bench/scenarios.py and prints each figure with
its reference and ratio, then a summary table. Exits non-zero only when a scenario could not run; a missed
target is a printed verdict, not a failure.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import scenarios, starvation
from bench import stack as stk
from bench.scenario_peer import peer_scenario

# The peer gateway needs its own virtualenv (a pip install) and minutes to start: run it with
# `make bench` or `--only peer`, never in the quick smoke run unless asked for.
# The reliability scenario (bench/starvation.py) runs after bench/scenarios.py's.
SCENARIOS = {**scenarios.SCENARIOS, "starvation": starvation.starvation, "peer": peer_scenario}
HUB_SCENARIOS = scenarios.HUB_SCENARIOS | {"starvation", "peer"}


def machine() -> dict:
    import psycopg
    import redis

    with psycopg.connect(f"{stk.POSTGRES_URL}/postgres") as conn:
        postgres = conn.execute("SHOW server_version").fetchone()[0]
    free = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.splitlines()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=stk.ROOT, capture_output=True, text=True)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": os.cpu_count(),
        "memory": free[1].split()[1] if len(free) > 1 else "?",
        "python": platform.python_version(),
        "postgres": postgres,
        "redis": redis.Redis.from_url(stk.REDIS_URL).info("server")["redis_version"],
        "commit": commit.stdout.strip() + " (+ working tree)",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a smoke test (seconds, not minutes)")
    parser.add_argument("--only", help=f"comma-separated, from {', '.join(SCENARIOS)} (default: all; --quick: no peer)")
    parser.add_argument("--web-concurrency", type=int, help="gunicorn workers (default: gunicorn.conf.py's, nproc)")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    default = [name for name in SCENARIOS if not (args.quick and name == "peer")]
    selected = [name.strip() for name in args.only.split(",") if name.strip()] if args.only else default
    unknown = set(selected) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    sizes = scenarios.QUICK if args.quick else scenarios.Sizes()

    info = machine()
    print("machine: " + ", ".join(f"{key} {value}" for key, value in info.items()), flush=True)
    started = time.monotonic()
    stack = stk.start_services(photo=True)
    figures: list[dict] = []
    failed: list[str] = []
    ctx = None
    try:
        # This process's own connections: no pool (64 charging threads each hold one), and a name the
        # in-flight scenario leaves out when it counts the hub's connections.
        stk.setup_django(
            {**stack.env, "DB_POOL": "false", "DATABASE_URL": stack.env["DATABASE_URL"] + "?application_name=gih-bench"}
        )
        accounts = stk.create_accounts(users=64, credits=10**9)
        from django.db import connections

        connections.close_all()
        ctx = scenarios.Context(stack, accounts, sizes)
        if set(selected) & HUB_SCENARIOS:
            stk.start_hub(stack, web_concurrency=args.web_concurrency)
            ctx.client = scenarios.LoadClient()
            print(
                f"hub: gunicorn pids {stack.web.pids()} on :{stack.web_port}, celery worker, "
                f"stand-in :{stack.standin_port}, "
                f"moto S3 :{stack.s3_port}, database {stk.BENCH_DB}, redis {stk.REDIS_URL}; ready in "
                f"{time.monotonic() - started:.1f}s",
                flush=True,
            )
        for name in [name for name in SCENARIOS if name in selected]:
            print(f"== {name}", flush=True)
            try:
                figures.extend(SCENARIOS[name](ctx))
            except Exception:
                traceback.print_exc()
                failed.append(name)
                print(f"FAILED {name}", flush=True)
    finally:
        if ctx is not None and ctx.client is not None:
            ctx.client.close()
        stack.stop()

    print("\n| figure | value | reference | ratio | target | verdict |\n|---|---|---|---|---|---|")
    for row in figures:
        cells = [row[key] for key in ("name", "value", "reference", "ratio", "target", "verdict")]
        print("| " + " | ".join(cells) + " |")
    print(f"\ndone in {time.monotonic() - started:.0f}s; logs in {stk.OUT}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "figures": figures, "failed": failed}, indent=2))
    if failed:
        print(f"scenarios that could not run: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
