"""Prometheus metrics: the hub's own, and /metrics (django-prometheus counts the HTTP requests).

Correct across processes with prometheus_client's multiprocess mode: every process of a
host (gunicorn's workers, the Celery worker, beat) is started with the same
PROMETHEUS_MULTIPROC_DIR and writes its samples to its own files there; /metrics, answered by
any web worker, sums them all. gunicorn.conf.py's child_exit marks a dead worker's files (its
counts stay: a counter never goes back). Without the variable each process counts alone,
which is right only for a single process (runserver).

The two gauges are read from the database when scraped (two indexed counts), so they
need no bookkeeping in the processes and cannot drift after a crash.
"""

import hmac
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from generations.events import generation_finished
from generations.selectors import generations_unfinished_counts

GENERATIONS = Counter(
    "gih_generations",
    "Generations that reached a terminal state.",
    ["model", "quality", "face", "status", "error_code"],
)
CREDITS_CHARGED = Counter("gih_credits_charged", "Credits charged for generations (at submit).")
CREDITS_REFUNDED = Counter("gih_credits_refunded", "Credits refunded for generations (failed, canceled, short).")
PROVIDER_REQUEST_SECONDS = Histogram(
    "gih_provider_request_seconds",
    "Time of one image provider call; outcome is ok or the failure code.",
    ["provider", "outcome"],
    buckets=(0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900),
)
# Incremented by the webhook sender (outcome: delivered, failed, retrying, ...): see README "Metrics".
WEBHOOK_DELIVERIES = Counter("gih_webhook_deliveries", "Webhook delivery attempts by outcome.", ["outcome"])


def credits_charged_count(amount: int) -> None:
    CREDITS_CHARGED.inc(amount)


@contextmanager
def provider_request_timed(provider: str) -> Iterator[None]:
    """Time the provider call in the block; its outcome is `ok`, the error's `code`, or `error`."""
    started = time.monotonic()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    except BaseException as error:
        outcome = getattr(error, "code", None) or type(error).__name__
        raise
    finally:
        PROVIDER_REQUEST_SECONDS.labels(provider=provider, outcome=outcome).observe(time.monotonic() - started)


def _generation_finished(sender, generation, status: str, **kwargs) -> None:
    GENERATIONS.labels(
        model=generation.model_id,
        quality=generation.quality,
        face=generation.face,
        status=status,
        error_code=generation.error_code or "",
    ).inc()
    if generation.credits_refunded:
        CREDITS_REFUNDED.inc(generation.credits_refunded)


def connect() -> None:
    """Count terminal moves (generations.apps.ready); once per process, whoever calls it."""
    generation_finished.connect(_generation_finished, dispatch_uid="gih.metrics.generations")


class UnfinishedGenerations:
    """gih_generations_in_flight and gih_queue_depth, counted in the database at scrape time."""

    def collect(self):
        counts = generations_unfinished_counts()
        yield GaugeMetricFamily(
            "gih_generations_in_flight", "Generations running now (at the provider or storing).", counts["running"]
        )
        yield GaugeMetricFamily("gih_queue_depth", "Async generations queued, not yet started.", counts["queued"])


def _registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY  # one process: its own counts (runserver, tests)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


def metrics_view(request):
    """GET /metrics: Prometheus' text format, for `Authorization: Bearer $METRICS_TOKEN` only.

    Without METRICS_TOKEN the endpoint does not exist (404): counts of the hub's business are
    not public by default.
    """
    token = settings.METRICS_TOKEN
    if not token:
        return JsonResponse({"error": {"message": "Not found.", "code": "not_found"}}, status=404)
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), token.encode()):
        response = JsonResponse(
            {"error": {"message": "Send 'Authorization: Bearer <METRICS_TOKEN>'.", "code": "unauthorized"}},
            status=401,
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = _registry()
    output = generate_latest(registry) + generate_latest(_UNFINISHED_REGISTRY)
    return HttpResponse(output, content_type=CONTENT_TYPE_LATEST)


# Scraped once per request, never summed across processes: the database holds the one true value.
_UNFINISHED_REGISTRY = CollectorRegistry(auto_describe=False)
_UNFINISHED_REGISTRY.register(UnfinishedGenerations())
