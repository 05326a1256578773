"""Start-up tuning for the long-running processes: gunicorn workers and the Celery worker.

Why: once loaded, Django, DRF, Celery and botocore's service models are ~150k objects
that live as long as the process. CPython's full (generation 2) collections walked
them all, 60-170 ms each with the whole gevent worker stalled (every in-flight
request waits), several times a minute under load: the p99 outliers of the bench
(bench/RESULTS.md). gc.freeze() moves them to a generation the collector never scans.
Nothing frozen here was ever going to be garbage.
"""

import gc
import logging

logger = logging.getLogger(__name__)


def _load_lazy_parts() -> None:
    """Load what the first request would otherwise load (and leave to the collector)."""
    from django.core.files.storage import default_storage
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (the loading is the point)
    # S3: builds the shared boto3 resource, botocore's service model included; no network call.
    getattr(default_storage, "connection", None)


def freeze_startup_heap() -> None:
    """Load the lazy parts, collect once, then freeze everything alive out of the collector's reach."""
    try:
        _load_lazy_parts()
    except Exception:  # a warm-up failure must not stop the process; the first request will say what is wrong
        logger.warning("Warming up before gc.freeze() failed", exc_info=True)
    gc.collect()
    gc.freeze()
    logger.info("Froze %d start-up objects out of the garbage collector's reach", gc.get_freeze_count())
