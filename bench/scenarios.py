"""The five scenarios. Each measures the hub next to a zero-cost reference taken in the same run and prints
`FIGURE <name>: ...` lines (value, reference, ratio, target). Nothing here asserts a timing."""

import json
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass

from bench import stack as stk

MODEL = "gpt-image-2"
PROMPT = "A photo of a lighthouse on a rocky coast at dusk, waves, long exposure"
SIZE = "1024x1024"
QUALITY = "low"


@dataclass(frozen=True)
class Sizes:
    """How much load each scenario sends: the full run, or --quick for a smoke test."""

    gateway_pairs: int = 1600
    gateway_seconds: float = 150
    credits_rounds: int = 3
    credits_seconds: float = 8
    credits_concurrency: int = 32
    inflight: int = 1000
    inflight_delay: float = 60
    probe_seconds: float = 8
    charges_per_thread: int = 20
    charge_rounds: int = 2
    async_requests: int = 400
    async_rate: float = 20
    redis_samples: int = 500
    peer_pairs: int = 100
    peer_seconds: float = 90
    peer_saturation_seconds: float = 30


QUICK = Sizes(
    gateway_pairs=48,
    gateway_seconds=20,
    credits_rounds=1,
    credits_seconds=1.5,
    inflight=50,
    inflight_delay=5,
    probe_seconds=1,
    charges_per_thread=2,
    charge_rounds=1,
    async_requests=20,
    async_rate=20,
    redis_samples=50,
    peer_pairs=8,
    peer_seconds=15,
    peer_saturation_seconds=5,
)


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def figure(name: str, value: str, reference: str, ratio: str, target: str, met: bool | None) -> dict:
    verdict = "n/a" if met is None else ("MET" if met else "MISSED")
    print(
        f"FIGURE {name}: {value} | reference: {reference} | ratio: {ratio} | target: {target} -> {verdict}", flush=True
    )
    return {"name": name, "value": value, "reference": reference, "ratio": ratio, "target": target, "verdict": verdict}


def note(text: str) -> None:
    print(f"  {text}", flush=True)


class LoadClient:
    """The gevent load client (bench/loadclient.py) in its own process, driven line by line."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, str(stk.ROOT / "bench" / "loadclient.py")],
            cwd=stk.ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            preexec_fn=stk.raise_nofile,
            text=True,
        )

    def send(self, **command) -> None:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def receive(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"The load client exited with {self.proc.wait()}")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"Load client: {answer['error']}")
        return answer

    def call(self, **command) -> dict:
        self.send(**command)
        return self.receive()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.send(op="quit")
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Context:
    def __init__(self, stack: stk.Stack, accounts: dict, sizes: Sizes):
        self.stack = stack
        self.accounts = accounts
        self.sizes = sizes
        self.client: LoadClient | None = None

    def keys(self, count: int | None = None) -> list[str]:
        users = self.accounts["users"][:count] if count else self.accounts["users"]
        return [f"Bearer {user['key']}" for user in users]

    def hub(self, method: str, path: str, body: dict | None = None, keys: list[str] | None = None) -> dict:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        return {
            "host": stk.HOST,
            "port": self.stack.web_port,
            "method": method,
            "path": path,
            "headers": headers,
            "keys": keys if keys is not None else self.keys(),
            "body": json.dumps(body) if body is not None else None,
        }

    def generation_body(self, **extra) -> dict:
        return {"model": MODEL, "prompt": PROMPT, "size": SIZE, "quality": QUALITY, **extra}

    def upstream(self) -> dict:
        """The request the hub's OpenAI adapter sends for generation_body(), sent straight to the stand-in."""
        return {
            "host": stk.HOST,
            "port": self.stack.standin_port,
            "method": "POST",
            "path": "/v1/images/generations",
            "headers": {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.stack.env['OPENAI_API_KEY']}",
            },
            "body": json.dumps(
                {"model": MODEL, "prompt": PROMPT, "n": 1, "size": SIZE, "quality": QUALITY, "user": "0" * 32}
            ),
        }

    def standin_control(self, **settings) -> None:
        request = urllib.request.Request(
            f"http://{stk.HOST}:{self.stack.standin_port}/_control",
            data=json.dumps(settings).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()


def _statuses(rows: list) -> dict:
    counts: dict = {}
    for _, status in rows:
        counts[str(status)] = counts.get(str(status), 0) + 1
    return counts


def _client_cost(answer: dict, requests: int) -> str:
    per_request = answer["client_cpu"] / max(requests, 1) * 1e6
    wall = answer.get("wall")
    share = f", {answer['client_cpu'] / wall:.0%} of one core" if wall else ""
    return f"client CPU {per_request:.0f} µs/request{share}"


class CpuMeter:
    """CPU seconds used by each process of the stack between start and report(), per request."""

    def __init__(self, ctx: "Context"):
        self.ctx = ctx
        self.before = {name: {pid: stk.cpu_seconds([pid]) for pid in pids} for name, pids in self._groups().items()}

    def _groups(self) -> dict[str, list[int]]:
        procs = self.ctx.stack.procs
        groups = {name: procs[name].pids() for name in ("web", "worker", "s3", "standin") if name in procs}
        groups["postgres"] = stk.pg_backend_pids()
        if self.ctx.client is not None:
            groups["client"] = [self.ctx.client.proc.pid]
        return groups

    def report(self, requests: int) -> str:
        parts = []
        for name, pids in self._groups().items():
            before = self.before.get(name, {})
            used = sum(stk.cpu_seconds([pid]) - before.get(pid, 0.0) for pid in pids)
            parts.append(f"{name} {used / max(requests, 1) * 1e3:.2f}")
        return "CPU ms per request: " + ", ".join(parts)


# --- 1. Gateway overhead ------------------------------------------------------------------------


def gateway(ctx: Context) -> list[dict]:
    """Sync generation through the hub vs the same request straight to the stand-in, interleaved per client."""
    sizes = ctx.sizes
    ctx.standin_control(delay=0, photo=True)
    hub = ctx.hub("POST", "/api/v1/images/generations", ctx.generation_body())
    warm = ctx.client.call(op="loop", targets=[hub, ctx.upstream()], concurrency=16, requests=32, seconds=30)
    # Unqueued: one client, so each figure is the request's own time (supporting figure, not the target).
    serial = ctx.client.call(op="loop", targets=[hub, ctx.upstream()], concurrency=1, requests=40, seconds=20)
    serial_ok = [(h[0], d[0]) for h, d in serial["iterations"] if h[1] == 200 and d[1] == 200]
    meter = CpuMeter(ctx)
    answer = ctx.client.call(
        op="loop", targets=[hub, ctx.upstream()], concurrency=16, requests=sizes.gateway_pairs,
        seconds=sizes.gateway_seconds, timeout=60,
    )  # fmt: skip
    rows = answer["iterations"]
    hub_rows = [row[0] for row in rows]
    direct_rows = [row[1] for row in rows]
    ok = [(h[0], d[0]) for h, d in rows if h[1] == 200 and d[1] == 200]
    hub_ms = [h for h, _ in ok]
    direct_ms = [d for _, d in ok]
    diffs = [h - d for h, d in ok]
    note(
        f"{len(rows)} pairs from 16 clients in {answer['wall']:.1f}s (after {len(warm['iterations'])} warm-up pairs); "
        f"hub statuses {_statuses(hub_rows)}, direct statuses {_statuses(direct_rows)}; "
        f"{_client_cost(answer, 2 * len(rows))}"
    )
    note(meter.report(len(rows)) + " (one hub + one direct request each)")
    note(
        f"one client alone ({len(serial_ok)} pairs): hub p50 {percentile([h for h, _ in serial_ok], 50):.1f} ms, "
        f"direct p50 {percentile([d for _, d in serial_ok], 50):.1f} ms, "
        f"difference p50 {percentile([h - d for h, d in serial_ok], 50):.1f} ms"
    )
    note(
        f"hub p50 {percentile(hub_ms, 50):.1f} ms p99 {percentile(hub_ms, 99):.1f} ms; "
        f"direct p50 {percentile(direct_ms, 50):.1f} ms p99 {percentile(direct_ms, 99):.1f} ms; "
        f"p99(hub) - p99(direct) = {percentile(hub_ms, 99) - percentile(direct_ms, 99):.1f} ms"
    )
    p50, p99 = percentile(diffs, 50), percentile(diffs, 99)
    ratio50 = percentile(hub_ms, 50) / percentile(direct_ms, 50)
    ratio99 = percentile(hub_ms, 99) / percentile(direct_ms, 99)
    return [
        figure(
            "gateway_overhead_p50",
            f"{p50:.1f} ms (p50 of hub - direct, paired)",
            f"direct to stand-in p50 {percentile(direct_ms, 50):.1f} ms",
            f"hub/direct p50 {ratio50:.2f}",
            "<= 15 ms",
            p50 <= 15 and len(ok) == len(rows),
        ),
        figure(
            "gateway_overhead_p99",
            f"{p99:.1f} ms (p99 of hub - direct, paired)",
            f"direct to stand-in p99 {percentile(direct_ms, 99):.1f} ms",
            f"hub/direct p99 {ratio99:.2f}",
            "<= 40 ms",
            p99 <= 40 and len(ok) == len(rows),
        ),
    ]


# --- 2. Cheap endpoint throughput ------------------------------------------------------------------


def _throughput(ctx: Context, target: dict, seconds: float) -> tuple[float, list[float], dict]:
    concurrency = ctx.sizes.credits_concurrency
    meter = CpuMeter(ctx)
    answer = ctx.client.call(op="loop", targets=[target], concurrency=concurrency, requests=10**7, seconds=seconds)
    rows = [row[0] for row in answer["iterations"]]
    latencies = [latency for latency, status in rows if status == 200]
    answer["cpu"] = meter.report(len(rows))
    return len(latencies) / answer["wall"], latencies, answer


def credits(ctx: Context) -> list[dict]:
    """GET /api/v1/credits vs the bare /healthz JsonResponse, same processes, alternating rounds."""
    sizes = ctx.sizes
    bare = ctx.hub("GET", "/healthz", keys=[])
    cheap = ctx.hub("GET", "/api/v1/credits")
    _throughput(ctx, bare, 1)
    _throughput(ctx, cheap, 1)
    runs = {"bare": [], "credits": []}
    for _ in range(sizes.credits_rounds):
        for name, target in (("bare", bare), ("credits", cheap)):
            rate, latencies, answer = _throughput(ctx, target, sizes.credits_seconds)
            runs[name].append((rate, latencies, answer))
    summary = {}
    for name, results in runs.items():
        rate = sum(r for r, _, _ in results) / len(results)
        latencies = [latency for _, lat, _ in results for latency in lat]
        cpu = sum(a["client_cpu"] for _, _, a in results)
        wall = sum(a["wall"] for _, _, a in results)
        summary[name] = (rate, latencies)
        note(
            f"{name}: {rate:.0f} req/s over {len(results)} round(s) of {sizes.credits_seconds}s at "
            f"{sizes.credits_concurrency} clients; p50 {percentile(latencies, 50):.2f} ms p99 "
            f"{percentile(latencies, 99):.2f} ms; client CPU {cpu / max(len(latencies), 1) * 1e6:.0f} µs/request, "
            f"{cpu / wall:.0%} of one core; last round {results[-1][2]['cpu']}"
        )
    bare_rate, bare_lat = summary["bare"]
    rate, latencies = summary["credits"]
    return [
        figure(
            "credits_throughput",
            f"{rate:.0f} req/s (p99 {percentile(latencies, 99):.2f} ms)",
            f"/healthz {bare_rate:.0f} req/s (p99 {percentile(bare_lat, 99):.2f} ms)",
            f"{rate / bare_rate:.2f}x",
            ">= 0.6x",
            rate / bare_rate >= 0.6,
        )
    ]


# --- 3. In-flight capacity ----------------------------------------------------------------------


def _monitor():
    import psycopg

    return psycopg.connect(f"{stk.POSTGRES_URL}/{stk.BENCH_DB}", autocommit=True, application_name="gih-bench-monitor")


def _count_running(monitor, since) -> int:
    """Generations created since `since` (the database's clock) and now running: this burst's, not an earlier
    scenario's (the charging bench submits sync generations it never runs)."""
    return monitor.execute(
        "SELECT count(*) FROM generations_generation WHERE status = 'running' AND created_at >= %s", [since]
    ).fetchone()[0]


def _probe_credits(ctx: Context, seconds: float) -> list[float]:
    target = ctx.hub("GET", "/api/v1/credits")
    answer = ctx.client.call(op="loop", targets=[target], concurrency=4, requests=10**6, seconds=seconds)
    return [row[0][0] for row in answer["iterations"] if row[0][1] == 200]


class _Sampler:
    """Samples gunicorn's RSS and the hub's Postgres connections every 0.2 s, in a thread, between start and stop."""

    def __init__(self, web: stk.Proc, until: float):
        self.web, self.until = web, until
        self.rss_peak, self.samples, self.busy_samples, self.worst_busy, self.worst_held = 0, 0, 0, 0, 0
        self.worst_states: dict = {}
        self.busy_queries: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self, wait_until_end: bool = False) -> None:
        if wait_until_end:
            self._thread.join(max(0.0, self.until - time.monotonic()) + 1)
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(f"{stk.POSTGRES_URL}/postgres", autocommit=True) as conn:
            while not self._stop.is_set() and time.monotonic() < self.until:
                self.rss_peak = max(self.rss_peak, stk.rss_bytes(self.web.pids()))
                rows = stk.pg_activity(conn)
                busy = [row for row in rows if row[1] in ("active", "idle in transaction")]
                # Held: a transaction left open, or one statement running for over a second. A statement
                # that borrows a pooled connection for a moment (a heartbeat UPDATE) is busy, not held.
                held = [row for row in busy if row[1] == "idle in transaction" or row[3] > 1.0]
                self.samples += 1
                self.busy_samples += bool(busy)
                self.worst_held = max(self.worst_held, len(held))
                for _, _, query, _ in busy:
                    self.busy_queries[query] = self.busy_queries.get(query, 0) + 1
                if len(busy) >= self.worst_busy:
                    self.worst_busy = len(busy)
                    self.worst_states = {}
                    for _, state, _, _ in rows:
                        self.worst_states[state] = self.worst_states.get(state, 0) + 1
                self._stop.wait(0.2)


def inflight(ctx: Context) -> list[dict]:
    """Hold N sync generations on a slow upstream; watch RSS, Postgres connections and /credits meanwhile."""
    sizes = ctx.sizes
    count, delay = sizes.inflight, sizes.inflight_delay
    web = ctx.stack.web
    ctx.standin_control(delay=0, photo=False)
    gen = ctx.hub("POST", "/api/v1/images/generations", ctx.generation_body())
    ctx.client.call(op="loop", targets=[gen], concurrency=32, requests=128, seconds=30)  # warm every worker
    idle = _probe_credits(ctx, sizes.probe_seconds)
    ctx.standin_control(delay=delay, photo=False)
    time.sleep(0.5)
    rss_before = stk.rss_bytes(web.pids())
    conns_before = stk.pg_connections()
    monitor = _monitor()
    since = monitor.execute("SELECT now()").fetchone()[0]
    started = time.monotonic()
    ctx.client.call(op="hold", name="inflight", target=gen, requests=count, seconds=delay + 240)
    running = 0
    while time.monotonic() - started < delay * 0.6:
        running = _count_running(monitor, since)
        if running >= count:
            break
        time.sleep(0.1)
    held_after = time.monotonic() - started
    # Sample only while every request is still waiting on the upstream (its delay runs from each arrival),
    # and not while the /credits probe runs: its own queries are not waiting requests.
    sampler = _Sampler(web, until=started + delay - 1)
    sampler.start()
    time.sleep(min(2.0, delay / 5))
    sampler.stop()
    during = _probe_credits(ctx, min(sizes.probe_seconds, max(0.5, delay - (time.monotonic() - started) - 2)))
    still_held = _count_running(monitor, since)
    probe_end = time.monotonic() - started
    sampler.start()
    sampler.stop(wait_until_end=True)
    monitor.close()
    answer = ctx.client.call(op="hold_wait", name="inflight", seconds=delay + 240)
    rows = answer["results"]
    statuses = _statuses(rows)
    succeeded = statuses.get("200", 0)
    growth = (sampler.rss_peak - rss_before) / max(running, 1)
    idle_p99, during_p99 = percentile(idle, 99), percentile(during, 99)
    note(
        f"{running} running after {held_after:.1f}s (still {still_held} when the /credits probe ended at "
        f"{probe_end:.1f}s of a {delay:.0f}s upstream delay); results {statuses}; "
        f"latency p50 {percentile([r[0] for r in rows], 50) / 1000:.1f}s "
        f"max {max([r[0] for r in rows] or [0]) / 1000:.1f}s"
    )
    note(
        f"gunicorn RSS {rss_before / 2**20:.0f} MB -> peak {sampler.rss_peak / 2**20:.0f} MB over {len(web.pids())} "
        f"processes; hub connections before {conns_before}; while waiting: {sampler.samples} samples, "
        f"{sampler.busy_samples} with a busy connection, worst {sampler.worst_states}"
    )
    for query, seen in sorted(sampler.busy_queries.items(), key=lambda item: -item[1])[:5]:
        note(f"busy while waiting ({seen} sightings): {query}")
    return [
        figure(
            "inflight_held",
            f"{running} of {count} held at once, {succeeded} succeeded",
            f"{count} requested",
            f"{succeeded / count:.2f}",
            f">= {count} held, all succeed",
            running >= count and succeeded == count,
        ),
        figure(
            "inflight_memory",
            f"{growth / 2**20:.3f} MB per held request",
            f"gunicorn RSS before {rss_before / 2**20:.0f} MB",
            f"peak/before {sampler.rss_peak / max(rss_before, 1):.2f}",
            "<= 0.5 MB",
            growth <= 0.5 * 2**20,
        ),
        figure(
            "inflight_db_connections",
            f"{sampler.worst_held} held while {running} waited; at most {sampler.worst_busy} busy for a moment "
            f"(in {sampler.busy_samples} of {sampler.samples} samples); "
            f"{sampler.worst_states.get('idle', 0)} idle pooled",
            f"{sum(conns_before.values())} hub connections before the burst",
            "n/a",
            "0 held (open transaction, or one statement running > 1 s)",
            sampler.worst_held == 0,
        ),
        figure(
            "inflight_credits_p99",
            f"{during_p99:.2f} ms during ({len(during)} requests)",
            f"idle p99 {idle_p99:.2f} ms ({len(idle)} requests)",
            f"{during_p99 / idle_p99:.2f}x",
            "<= 2x idle",
            during_p99 <= 2 * idle_p99,
        ),
    ]


# --- 4. Hot-user charging -----------------------------------------------------------------------


def _charge_round(spec, users: list, charges: int) -> float:
    """Each thread submits `charges` generations (create + credits_charge in one transaction) for its user."""
    from django.db import connection

    from generations.services import generation_submit

    barrier = threading.Barrier(len(users) + 1)
    errors: list = []

    def worker(user) -> None:
        try:
            connection.ensure_connection()
            barrier.wait(timeout=120)
            for _ in range(charges):
                generation_submit(user=user, spec=spec)
        except Exception as error:
            errors.append(error)
            barrier.abort()  # a thread that cannot start (no connection left) must not leave the others waiting
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    try:
        barrier.wait(timeout=120)
    except threading.BrokenBarrierError:
        for thread in threads:
            thread.join(30)
        raise RuntimeError(f"charging threads could not start, first error: {errors[:1]!r}") from None
    started = time.perf_counter()
    for thread in threads:
        thread.join(300)
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} charging threads failed, first: {errors[0]!r}")
    return len(users) * charges / elapsed


def charging(ctx: Context) -> list[dict]:
    """64 threads charging one user vs 64 threads charging 64 users, through generation_submit (credits_charge)."""
    from django.db import connections

    from accounts.models import User
    from generations.validation import generation_spec_build

    sizes = ctx.sizes
    spec = generation_spec_build(data=ctx.generation_body())
    hot = User.objects.get(pk=ctx.accounts["hot"]["id"])
    spread = list(User.objects.filter(pk__in=[u["id"] for u in ctx.accounts["users"][:64]]).order_by("pk"))
    connections.close_all()
    _charge_round(spec, spread[:8], 2)  # warm-up
    rates = {"hot": [], "spread": []}
    for _ in range(sizes.charge_rounds):
        rates["spread"].append(_charge_round(spec, spread, sizes.charges_per_thread))
        rates["hot"].append(_charge_round(spec, [hot] * 64, sizes.charges_per_thread))
    hot_rate = sum(rates["hot"]) / len(rates["hot"])
    spread_rate = sum(rates["spread"]) / len(rates["spread"])
    audit = subprocess.run(
        [str(stk.BIN / "python"), "manage.py", "billing_audit"],
        cwd=stk.ROOT, env=ctx.stack.env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    note(
        f"{sizes.charge_rounds} round(s) of 64 threads x {sizes.charges_per_thread} charges, in this process "
        f"(generation_submit: create the generation + credits_charge, one transaction); hot {rates['hot']}, "
        f"spread {rates['spread']} charges/s"
    )
    note(f"billing_audit exit {audit.returncode}: {(audit.stdout + audit.stderr).strip()[-300:]}")
    return [
        figure(
            "charging_hot_user",
            f"{hot_rate:.0f} charges/s on one user",
            f"{spread_rate:.0f} charges/s over 64 users",
            f"{hot_rate / spread_rate:.2f}",
            ">= 0.5 and billing_audit clean",
            hot_rate / spread_rate >= 0.5 and audit.returncode == 0,
        ),
        figure(
            "charging_audit",
            f"billing_audit exit {audit.returncode}",
            "exit 0",
            "n/a",
            "clean",
            audit.returncode == 0,
        ),
    ]


# --- 5. Async path ------------------------------------------------------------------------------


def redis_round_trip(samples: int) -> list[float]:
    """LPUSH from one connection to a BRPOP waiting on another, in ms: the floor under any Redis queue."""
    import redis

    key = "bench:rtt"
    consumer_conn, producer_conn = redis.Redis.from_url(stk.REDIS_URL), redis.Redis.from_url(stk.REDIS_URL)
    producer_conn.delete(key)
    delays: list[float] = []

    def consume() -> None:
        for _ in range(samples):
            item = consumer_conn.brpop(key, timeout=5)
            if item is None:
                return
            delays.append((time.perf_counter() - float(item[1])) * 1000)

    thread = threading.Thread(target=consume)
    thread.start()
    for _ in range(samples):
        time.sleep(0.005)
        producer_conn.lpush(key, repr(time.perf_counter()))
    thread.join(30)
    return delays


def _submit_timings(ctx: Context, requests: int, *, synchronous_commit: bool) -> list[float]:
    """The submit transaction (create + charge) alone, in this process, in ms: what a 202 waits for in Postgres."""
    from django.db import connection

    from accounts.models import User
    from generations.services import generation_submit
    from generations.validation import generation_spec_build

    spec = generation_spec_build(data=ctx.generation_body())
    user = User.objects.get(pk=ctx.accounts["users"][-1]["id"])
    with connection.cursor() as cursor:
        cursor.execute(f"SET synchronous_commit TO {'on' if synchronous_commit else 'off'}")
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        generation_submit(user=user, spec=spec)
        timings.append((time.perf_counter() - started) * 1000)
    connection.close()
    return timings


def _wait_terminal(ids: list[str], seconds: float) -> dict:
    with _monitor() as monitor:
        deadline = time.monotonic() + seconds
        while True:
            rows = monitor.execute(
                "SELECT status, count(*) FROM generations_generation WHERE id = ANY(%s) GROUP BY 1", (ids,)
            ).fetchall()
            counts = dict(rows)
            if counts.get("queued", 0) + counts.get("running", 0) == 0 or time.monotonic() > deadline:
                return counts
            time.sleep(0.2)


def async_path(ctx: Context) -> list[dict]:
    """`async: true` submissions at a steady rate: 202 latency, then publish-to-task-start from the probe."""
    sizes = ctx.sizes
    ctx.standin_control(delay=0, photo=False)
    target = ctx.hub("POST", "/api/v1/images/generations", ctx.generation_body(**{"async": True}))
    ctx.client.call(op="paced", target=target, requests=10, rate=10, seconds=10, collect="id")
    rtt = redis_round_trip(sizes.redis_samples)
    # /healthz interleaved with the submissions (one each per tick): the zero-cost request under the same load.
    answer = ctx.client.call(
        op="paced",
        targets=[target, ctx.hub("GET", "/healthz", keys=[])],
        requests=2 * sizes.async_requests,
        rate=2 * sizes.async_rate,
        seconds=sizes.async_requests / sizes.async_rate + 30,
        collect="id",
    )
    results = [r for r in answer["results"] if r["target"] == 0]
    bare_ms = [r["latency"] for r in answer["results"] if r["target"] == 1 and r["status"] == 200]
    accepted = [r for r in results if r["status"] == 202]
    ids = [r["value"] for r in accepted]
    latencies = [r["latency"] for r in accepted]
    final = _wait_terminal(ids, 60)
    probe = {}
    probe_path = ctx.stack.env.get("BENCH_PROBE_FILE")
    if probe_path:
        for line in open(probe_path).read().splitlines():
            entry = json.loads(line)
            if entry["args"]:
                probe[entry["args"][0]] = (entry["started"] - entry["published"]) * 1000
    queue_ms = [probe[i] for i in ids if i in probe]
    with _monitor() as monitor:
        rows = monitor.execute(
            "SELECT extract(epoch FROM started_at - created_at) * 1000 FROM generations_generation "
            "WHERE id = ANY(%s) AND started_at IS NOT NULL",
            (ids,),
        ).fetchall()
    db_ms = [float(row[0]) for row in rows]
    note(
        f"{len(results)} requests at {sizes.async_rate:.0f}/s: "
        f"statuses {_statuses([(0, r['status']) for r in results])}; "
        f"final states {final}; {_client_cost(answer, len(answer['results']))}"
    )
    note(
        f"202 p50 {percentile(latencies, 50):.2f} ms; probe matched {len(queue_ms)} of {len(ids)}; "
        f"created_at->started_at p50 {percentile(db_ms, 50):.2f} ms p99 {percentile(db_ms, 99):.2f} ms; "
        f"redis LPUSH->BRPOP p50 {percentile(rtt, 50):.3f} ms p99 {percentile(rtt, 99):.3f} ms ({len(rtt)} samples)"
    )
    durable = _submit_timings(ctx, 30, synchronous_commit=True)
    relaxed = _submit_timings(ctx, 30, synchronous_commit=False)
    note(
        f"the submit transaction alone (this process, serial): p50 {percentile(durable, 50):.2f} ms "
        f"p99 {percentile(durable, 99):.2f} ms; with synchronous_commit=off (diagnostic only: how much of it is "
        f"the WAL flush at COMMIT) p50 {percentile(relaxed, 50):.2f} ms p99 {percentile(relaxed, 99):.2f} ms"
    )
    p99_202 = percentile(latencies, 99)
    q50, q99 = percentile(queue_ms, 50), percentile(queue_ms, 99)
    r50, r99 = percentile(rtt, 50), percentile(rtt, 99)
    return [
        figure(
            "async_202_p99",
            f"{p99_202:.2f} ms (p50 {percentile(latencies, 50):.2f} ms, {len(latencies)} accepted)",
            f"/healthz interleaved p99 {percentile(bare_ms, 99):.2f} ms",
            f"{p99_202 / percentile(bare_ms, 99):.1f}x",
            "<= 25 ms",
            p99_202 <= 25 and len(accepted) == len(results),
        ),
        figure(
            "async_enqueue_to_start",
            f"p50 {q50:.2f} ms p99 {q99:.2f} ms (publish -> task start)",
            f"Redis LPUSH->BRPOP p50 {r50:.3f} ms p99 {r99:.3f} ms",
            f"p50 {q50 / r50:.0f}x",
            "p50 <= 10 ms",
            q50 <= 10 and len(queue_ms) == len(ids),
        ),
    ]


SCENARIOS = {
    "charging": charging,
    "credits": credits,
    "gateway": gateway,
    "async": async_path,
    "inflight": inflight,
}
HUB_SCENARIOS = {"credits", "gateway", "async", "inflight"}
