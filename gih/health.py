"""Liveness (/healthz) and readiness (/readyz) probes, with django-health-check's checks.

/healthz answers as long as the process does and touches nothing: a load balancer that restarts
processes on it must not restart every web process because Postgres blinked. /readyz checks each
dependency a request needs (database, cache, broker, storage), in parallel, each with its latency,
and answers 503 naming the ones that failed, so a load balancer stops sending traffic meanwhile.

Both are unauthenticated, never redirected to https nor refused over plain HTTP (gih/https.py), and
not logged per hit (gunicorn's access log is off by default; Django logs only failures).
"""

import dataclasses
import logging
import time
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from botocore.config import Config
from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import storages
from django.http import JsonResponse
from health_check.base import HealthCheck
from health_check.checks import Database
from health_check.exceptions import HealthCheckException, ServiceUnavailable

logger = logging.getLogger(__name__)
PROBE_TIMEOUT_SECONDS = 2
PROBE_DEADLINE_SECONDS = 3  # the whole /readyz answers within this, whatever hangs
STORAGE_PROBE_NAME = "health-check/probe"  # never written: a missing key is an answer too
# One S3 client per storage for probes: one attempt, short timeouts (the storage's own client retries for
# seconds, right for uploads, wrong for a probe that must say "not ready" at once).
_PROBE_CLIENTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PROBE_CONFIG = Config(
    connect_timeout=PROBE_TIMEOUT_SECONDS, read_timeout=PROBE_TIMEOUT_SECONDS, retries={"total_max_attempts": 1}
)


def healthz(request):
    """Liveness: the process answers. No dependency is touched."""
    return JsonResponse({"status": "ok"})


def _s3_probe_client(storage):
    client = _PROBE_CLIENTS.get(storage)
    if client is None:
        client = _PROBE_CLIENTS[storage] = storage._create_session().client(
            "s3",
            region_name=storage.region_name,
            use_ssl=storage.use_ssl,
            endpoint_url=storage.endpoint_url,
            config=storage.client_config.merge(_PROBE_CONFIG),
            verify=storage.verify,
        )
    return client


@dataclasses.dataclass
class StorageReachable(HealthCheck):
    """The default storage answers: a HEAD on the S3 bucket (or a look at the media folder). Nothing is written."""

    alias: str = "default"

    def run(self) -> None:
        storage = storages[self.alias]
        try:
            if hasattr(storage, "bucket_name"):
                _s3_probe_client(storage).head_bucket(Bucket=storage.bucket_name)
            else:
                storage.exists(STORAGE_PROBE_NAME)
        except Exception as exc:  # boto's and the filesystem's errors alike mean "not reachable"
            raise ServiceUnavailable(f"unreachable ({type(exc).__name__})") from exc


@dataclasses.dataclass
class CacheReachable(HealthCheck):
    """The cache stores and returns a value (django-health-check's Cache, synchronously)."""

    def run(self) -> None:
        key = f"health-check:{uuid.uuid4().hex}"
        try:
            cache.set(key, "ok", timeout=PROBE_TIMEOUT_SECONDS * 5)
            answer = cache.get(key)
        except Exception as exc:  # redis-py's errors are not ConnectionError subclasses
            raise ServiceUnavailable(f"unreachable ({type(exc).__name__})") from exc
        if answer != "ok":
            raise ServiceUnavailable("the value read back differs")


@dataclasses.dataclass
class BrokerReachable(HealthCheck):
    """The Celery broker (Redis) answers a PING."""

    url: str = dataclasses.field(default="", repr=False)

    def run(self) -> None:
        import redis

        client = redis.Redis.from_url(
            self.url, socket_connect_timeout=PROBE_TIMEOUT_SECONDS, socket_timeout=PROBE_TIMEOUT_SECONDS
        )
        try:
            client.ping()
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"unreachable ({type(exc).__name__})") from exc
        finally:
            client.close()


def readiness_checks() -> dict[str, HealthCheck]:
    """What a request needs, by name; the broker only when it is a server (not the demo's folder broker)."""
    checks: dict[str, HealthCheck] = {"database": Database(), "cache": CacheReachable(), "storage": StorageReachable()}
    if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        checks["broker"] = BrokerReachable(url=settings.CELERY_BROKER_URL)
    return checks


def _probe(check: HealthCheck) -> str | None:
    """The check's error message, or None when it passed."""
    try:
        check.run()
    except HealthCheckException as error:
        return str(error)
    except Exception as exc:  # a check's bug must not become a 500 of the probe
        logger.exception("Readiness check %r crashed", check)
        return f"error ({type(exc).__name__})"
    return None


def readyz(request):
    """GET /readyz: {"status", "checks": {name: {"ok", "latency_ms", "error"?}}, "failed": [names]}; 503: failed.

    The checks run in parallel (greenlets under gunicorn's gevent workers, threads elsewhere), synchronously:
    django-health-check's own view runs them on an asyncio loop, where Django refuses database calls under
    gevent (the "thread" pool is greenlets on the loop's own thread). Each waits at most its deadline.
    """
    checks = readiness_checks()
    report: dict[str, dict] = {}
    # Not a `with` block: leaving it would wait for a hung check, and the probe must answer by its deadline.
    pool = ThreadPoolExecutor(max_workers=len(checks))
    started = time.monotonic()
    futures = {name: pool.submit(_timed, check) for name, check in checks.items()}
    for name, future in futures.items():
        remaining = max(0.0, started + PROBE_DEADLINE_SECONDS - time.monotonic())
        try:
            error, seconds = future.result(timeout=remaining)
        except FutureTimeout:
            error, seconds = f"timed out after {PROBE_DEADLINE_SECONDS} s", PROBE_DEADLINE_SECONDS
        report[name] = {"ok": error is None, "latency_ms": round(seconds * 1000, 1)}
        if error is not None:
            report[name]["error"] = error
    pool.shutdown(wait=False)
    failed = [name for name, entry in report.items() if not entry["ok"]]
    if failed:  # one line per failed probe (the library's own traceback is kept below ERROR in settings)
        logger.warning("Not ready: %s", "; ".join(f"{name}: {report[name]['error']}" for name in failed))
    body = {"status": "unavailable" if failed else "ok", "checks": report, "failed": failed}
    return JsonResponse(body, status=503 if failed else 200)


def _timed(check: HealthCheck) -> tuple[str | None, float]:
    started = time.monotonic()
    error = _probe(check)
    return error, time.monotonic() - started
