"""Start-up tuning for the long-running processes: gunicorn workers and the Celery worker.

Why: once loaded, Django, DRF, Celery and botocore's service models are ~150k objects
that live as long as the process. CPython's full (generation 2) collections walked
them all, 60-170 ms each with the whole gevent worker stalled (every in-flight
request waits), several times a minute under load: the p99 outliers of the bench
(bench/RESULTS.md). gc.freeze() moves them to a generation the collector never scans.
Nothing frozen here was ever going to be garbage.

And the allocator (glibc's malloc): every generation moves a few buffers of 1-3 MB (the
provider's body, the decoded image, the b64 answer). By default glibc maps each one with its
own mmap and unmaps it when freed, or hands the heap's free top back to the kernel, so the
next one page-faults its way in again: 1.8 ms of CPU to write and read back a 1.6 MB buffer
here, against 0.1 ms when the memory stays in the heap (bench/RESULTS.md). keep_buffers_on_heap()
keeps blocks under 32 MB in the heap and returns the heap's free top only past 64 MB.
"""

import ctypes
import ctypes.util
import gc
import logging
import os

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


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
HEAP_BUFFER_MAX_BYTES = 32 * 1024 * 1024
HEAP_FREE_TOP_KEPT_BYTES = 64 * 1024 * 1024


def keep_buffers_on_heap() -> bool:
    """Tune glibc's malloc for large short-lived buffers; whether it was done.

    Not done off glibc (musl, macOS: no mallopt) or when the operator set glibc's own
    MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ (theirs win).
    """
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") or os.environ.get("MALLOC_TRIM_THRESHOLD_"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    done = mallopt(M_MMAP_THRESHOLD, HEAP_BUFFER_MAX_BYTES) == 1
    done = mallopt(M_TRIM_THRESHOLD, HEAP_FREE_TOP_KEPT_BYTES) == 1 and done
    if done:
        logger.info("malloc keeps buffers under %d MB on the heap", HEAP_BUFFER_MAX_BYTES // 2**20)
    return done
