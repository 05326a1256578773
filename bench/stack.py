"""The stack a bench run talks to, all on loopback and all torn down at the end.

A fresh Postgres database (`gih_bench`), a dedicated Redis db, moto's S3 server, the OpenAI
stand-in (testsupport/openai_standin.py) and the hub itself started as the Procfile does:
`gunicorn gih.wsgi` with gunicorn.conf.py (gevent, WEB_CONCURRENCY workers) and
`celery -A gih worker --pool gevent`. The only addition to the Procfile's commands is the
bench's publish/start probe (bench/celery_probe.py), loaded by bench/gunicorn_bench.py and
the worker's `--include`; it stamps one header per task and appends one line per task start.
"""

import json
import os
import resource
import secrets
import signal
import socket
import string
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "bench" / "out"))
BIN = Path(sys.executable).parent
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
BENCH_DB = os.environ.get("BENCH_DATABASE", "gih_bench")
# Redis db 14 is the bench's own; each test run claims one of 1-13 (scripts/test-redis-db.sh).
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
BUCKET = "gih-bench"
NOFILE = 65536
HOST = "127.0.0.1"


def raise_nofile() -> None:
    """Raise this process' open-file limit: 1,000 held requests need 1,000+ sockets on each side."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = NOFILE if hard == resource.RLIM_INFINITY else min(hard, NOFILE)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], bool], *, seconds: float, what: str, proc: "Proc | None" = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.popen.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {proc.popen.returncode}; see {proc.log}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"Timed out after {seconds:.0f}s waiting for {what}" + (f"; see {proc.log}" if proc else ""))


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


@dataclass
class Proc:
    """A child process in its own session, so stopping it stops its children (gunicorn's workers) too."""

    name: str
    popen: subprocess.Popen
    log: Path
    lines: list[str] = field(default_factory=list)
    _port_seen: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(cls, name: str, argv: list[str], env: dict, *, watch_stdout: bool = False) -> "Proc":
        OUT.mkdir(parents=True, exist_ok=True)
        log = OUT / f"{name}.log"
        handle = log.open("wb")
        popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if watch_stdout else handle,
            stderr=handle,
            start_new_session=True,
            preexec_fn=raise_nofile,
        )
        proc = cls(name=name, popen=popen, log=log)
        if watch_stdout:
            threading.Thread(target=proc._pump, args=(handle,), daemon=True).start()
        return proc

    def _pump(self, handle) -> None:
        for raw in self.popen.stdout:
            handle.write(raw)
            handle.flush()
            self.lines.append(raw.decode(errors="replace").strip())
            self._port_seen.set()

    def first_line(self, seconds: float = 20) -> str:
        if not self._port_seen.wait(seconds):
            raise RuntimeError(f"{self.name} printed nothing in {seconds:.0f}s; see {self.log}")
        return self.lines[0]

    def stop(self, sig: int = signal.SIGTERM, seconds: float = 10) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
                self.popen.wait(seconds)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
            except ProcessLookupError:
                pass

    def pids(self) -> list[int]:
        """This process and its children (gunicorn's master and workers)."""
        pid = self.popen.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return []
        return [pid, *map(int, children)]


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes, from /proc/PID/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def _random_secret(length: int = 50) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass
class Stack:
    env: dict
    procs: dict[str, Proc] = field(default_factory=dict)
    web_port: int = 0
    standin_port: int = 0
    s3_port: int = 0

    @property
    def web(self) -> Proc | None:
        return self.procs.get("web")

    def stop(self) -> None:
        # gunicorn: SIGINT is its quick shutdown (SIGTERM would wait graceful_timeout for in-flight requests);
        # celery: SIGQUIT is its cold shutdown. Everything else takes SIGTERM.
        for name, sig in (("worker", signal.SIGQUIT), ("web", signal.SIGINT), ("standin", signal.SIGTERM)):
            if name in self.procs:
                self.procs.pop(name).stop(sig)
        for proc in self.procs.values():
            proc.stop()
        self.procs.clear()


def _standin_key() -> str:
    """The API key for this run: BENCH_OPENAI_API_KEY, else a fresh random one.

    Passed to the stand-in with `--api-key` and to the hub as OPENAI_API_KEY, so both sides agree
    without relying on the stand-in's built-in default (DEFAULT_API_KEY).
    """
    return os.environ.get("BENCH_OPENAI_API_KEY") or f"sk-bench-{_random_secret(32)}"


def start_services(*, photo: bool) -> Stack:
    """Start S3 and the stand-in, build the hub's environment and a fresh, migrated bench database."""
    raise_nofile()
    stack = Stack(env={})
    try:
        stack.s3_port = free_port()
        s3_argv = [str(BIN / "python"), "-m", "bench.moto_app", str(stack.s3_port)]
        s3 = Proc.start("s3", s3_argv, _base_env())  # keep-alive, as a real object store (bench/moto_app.py)
        stack.procs["s3"] = s3
        standin_key = _standin_key()
        argv = [
            str(BIN / "python"), "-m", "testsupport.openai_standin", "--host", HOST, "--port", "0",
            "--delay", "0", "--api-key", standin_key, *(["--photo"] if photo else []),
        ]  # fmt: skip
        standin = Proc.start("standin", argv, _base_env(), watch_stdout=True)
        stack.procs["standin"] = standin
        line = standin.first_line()
        if not line.startswith("PORT "):
            raise RuntimeError(f"The stand-in's first line should be 'PORT <n>', got {line!r}")
        stack.standin_port = int(line.split()[1])
        stack.env = hub_env(s3_port=stack.s3_port, standin_port=stack.standin_port, standin_key=standin_key)
        wait_for(lambda: _port_open(stack.s3_port), seconds=20, what="moto's S3 server", proc=s3)
        _create_bucket(stack.env)
        _reset_redis()
        _reset_database(stack.env)
    except BaseException:
        stack.stop()
        raise
    return stack


def start_hub(stack: Stack, *, web_concurrency: int | None = None, worker_concurrency: int | None = None) -> None:
    """gunicorn and a Celery worker, as the Procfile starts them."""
    env = dict(stack.env)
    stack.web_port = free_port()
    env["PORT"] = str(stack.web_port)
    env["HOST"] = HOST
    if web_concurrency:
        env["WEB_CONCURRENCY"] = str(web_concurrency)
    if worker_concurrency:
        env["WORKER_CONCURRENCY"] = str(worker_concurrency)
    probe_file = OUT / "probe.jsonl"
    probe_file.unlink(missing_ok=True)
    env["BENCH_PROBE_FILE"] = str(probe_file)
    stack.env["BENCH_PROBE_FILE"] = str(probe_file)
    # As deployed: the account pages (the login-flood scenario) need the collected static manifest.
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    web = Proc.start("web", [str(BIN / "gunicorn"), "-c", "bench/gunicorn_bench.py", "gih.wsgi"], env)
    stack.procs["web"] = web
    worker_argv = [
        str(BIN / "celery"), "-A", "gih", "worker", "--pool", "gevent",
        "--concurrency", env.get("WORKER_CONCURRENCY", "200"), "--loglevel", "INFO",
        "--include", "bench.celery_probe", "--without-mingle", "--without-gossip",
    ]  # fmt: skip
    worker = Proc.start("worker", worker_argv, env)
    stack.procs["worker"] = worker
    wait_for(lambda: http_ok(f"http://{HOST}:{stack.web_port}/healthz"), seconds=60, what="gunicorn", proc=web)
    wait_for(lambda: " ready." in worker.log.read_text(errors="replace"), seconds=60, what="celery", proc=worker)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((HOST, port)) == 0


def _base_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def hub_env(*, s3_port: int, standin_port: int, standin_key: str) -> dict:
    """Production-like settings: DEBUG off, Postgres, Redis, S3 and the OpenAI provider."""
    env = _base_env()
    env.update(
        DJANGO_SETTINGS_MODULE="gih.settings",
        DEBUG="false",
        SECRET_KEY=_random_secret(),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        API_REQUIRE_HTTPS="false",  # plain HTTP on loopback: no TLS proxy in front of the bench
        BEHIND_TLS_PROXY="false",
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
        DATABASE_URL=f"{POSTGRES_URL}/{BENCH_DB}",
        REDIS_URL=REDIS_URL,
        AWS_STORAGE_BUCKET_NAME=BUCKET,
        AWS_S3_ENDPOINT_URL=f"http://{HOST}:{s3_port}",
        AWS_S3_REGION_NAME="us-east-1",
        AWS_ACCESS_KEY_ID="bench-access-key",
        AWS_SECRET_ACCESS_KEY="bench-secret-key",  # noqa: S106 (moto accepts any)
        IMAGE_PROVIDER="openai",
        OPENAI_BASE_URL=f"http://{HOST}:{standin_port}/v1",
        OPENAI_API_KEY=standin_key,
        LOG_LEVEL=os.environ.get("LOG_LEVEL", "INFO"),
    )
    return env


def _create_bucket(env: dict) -> None:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_S3_ENDPOINT_URL"],
        region_name=env["AWS_S3_REGION_NAME"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    s3.create_bucket(Bucket=BUCKET)


def _reset_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def _reset_database(env: dict) -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    subprocess.run([str(BIN / "python"), "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)


def setup_django(env: dict) -> None:
    """Configure this process with the hub's settings (for fixtures, the charging bench and audits)."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def create_accounts(*, users: int, credits: int) -> dict:
    """One hot user plus `users` others, each with an API key and `credits` credits (through the services)."""
    from accounts.services import api_key_create, user_create
    from billing.services import credits_grant

    accounts = {"hot": None, "users": []}
    for index in range(users + 1):
        email = "bench-hot@example.com" if index == 0 else f"bench-{index:04d}@example.com"
        user = user_create(email=email)
        credits_grant(user=user, amount=credits, note="bench credits")
        entry = {"id": user.pk, "email": email, "key": api_key_create(user=user, name="bench").raw_key}
        if index == 0:
            accounts["hot"] = entry
        else:
            accounts["users"].append(entry)
    return accounts


def pg_activity(conn=None) -> list[tuple[int, str, str, float]]:
    """(pid, state, query, seconds in that state) of the hub's connections to the bench database.

    Read over a connection to the `postgres` database, and leaving out the bench's own
    connections (application_name gih-bench...), so only the web and worker processes count.
    """
    import psycopg

    own = conn is None
    conn = conn or psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True)
    try:
        return conn.execute(
            "SELECT pid, coalesce(state, 'unknown'), left(query, 120), "
            "coalesce(extract(epoch FROM now() - state_change), 0)::float FROM pg_stat_activity "
            "WHERE datname = %s AND application_name NOT LIKE 'gih-bench%%'",
            (BENCH_DB,),
        ).fetchall()
    finally:
        if own:
            conn.close()


def pg_connections(conn=None) -> dict:
    """The hub's connections to the bench database, counted by state."""
    counts: dict = {}
    for _, state, _, _ in pg_activity(conn):
        counts[state] = counts.get(state, 0) + 1
    return counts


def pg_backend_pids() -> list[int]:
    return [row[0] for row in pg_activity()]


def dump(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))
