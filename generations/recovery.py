"""The recovery sweep: a generation whose process died is terminal (or running again) within about 2 minutes.

Why: a running attempt refreshes `heartbeat_at` every GENERATION_HEARTBEAT_SECONDS
(attempts.heartbeat). When the process running it dies (a SIGKILLed or OOM-killed
worker, a web process killed during a sync generation), the beats stop and the credits
stayed held until the reaper, ~19 minutes later: Redis redelivers a dead worker's task
only after the broker's visibility timeout, and a sync generation had no takeover at all.
Beat runs this sweep every GENERATION_RECOVERY_INTERVAL_SECONDS:

- a sync generation silent for GENERATION_HEARTBEAT_STALE_SECONDS lost its web process, and
  its client with it: failed and refunded (worker_lost);
- an async one silent that long is re-queued, once per attempt: the task's claim sees the
  stale heartbeat and takes it over as the next attempt (attempts.claim), on any live worker;
- an async one still silent at the next sweep (no live worker took it over), or out of
  attempts: failed and refunded;
- an async job still queued after twice the stale time may have lost its message (a Redis
  restart without persistence): published again, once; a duplicate is harmless (claim).

With the defaults (15 s beats, 45 s stale, a sweep every 30 s) a dead process' generation is
re-queued within 75 s (taken over at once by any live worker) and failed, if none did, by
the next sweep: terminal within 105 s. Every move goes through the attempt machine's
compare-and-set, so a slow but live attempt that beats again is never run twice.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from generations.failures import FailureCode
from generations.models import Generation
from generations.transitions import generation_fail
from gih.celery import app as celery_app

logger = logging.getLogger(__name__)

Status = Generation.Status
RUN_GENERATION_TASK = "generations.tasks.run_generation"


@dataclass
class Recovery:
    requeued: int = 0
    republished: int = 0
    failed: int = 0


def _marker_window() -> int:
    return 4 * settings.GENERATION_HEARTBEAT_STALE_SECONDS + 4 * settings.GENERATION_RECOVERY_INTERVAL_SECONDS


def _publish(generation_id: str) -> bool:
    try:
        celery_app.send_task(RUN_GENERATION_TASK, args=[generation_id])
    except Exception:  # the broker is down: the next sweep tries again, or fails the job in time
        logger.warning("Recovery could not re-queue generation %s", generation_id, exc_info=True)
        return False
    return True


def _publish_once(marker: str, generation_id: str) -> bool:
    """Publish a run task unless `marker` says this was done already; True if published."""
    if not cache.add(marker, time.time(), timeout=_marker_window()):
        return False
    if not _publish(generation_id):
        cache.delete(marker)
        return False
    return True


def _fail(generation_id: str, attempts: int, message: str) -> bool:
    failed = generation_fail(
        generation_id=generation_id, error_code=FailureCode.WORKER_LOST, error_message=message, attempt=attempts
    )
    return failed.status == Status.FAILED and failed.error_code == FailureCode.WORKER_LOST


def generations_recover(*, now: datetime | None = None) -> Recovery:
    """One sweep over running generations with a stale heartbeat and async jobs queued too long."""
    now = now or timezone.now()
    stale = timedelta(seconds=settings.GENERATION_HEARTBEAT_STALE_SECONDS)
    result = Recovery()
    silent = Generation.objects.filter(status=Status.RUNNING).filter(
        Q(heartbeat_at__lt=now - stale) | Q(heartbeat_at__isnull=True, started_at__lt=now - stale)
    )
    for row in silent.values("pk", "is_async", "attempts", "heartbeat_at", "started_at"):
        generation_id, attempts = row["pk"], row["attempts"]
        silent_for = now - (row["heartbeat_at"] or row["started_at"])
        if not row["is_async"]:
            message = f"The web process running it stopped (no heartbeat for {silent_for.total_seconds():.0f}s)."
            result.failed += _fail(generation_id, attempts, message)
            continue
        marker = f"generation-requeued:{generation_id}:{attempts}"
        requeued_at = cache.get(marker)
        if attempts >= settings.GENERATION_MAX_ATTEMPTS or (
            requeued_at is not None and time.time() - requeued_at >= settings.GENERATION_RECOVERY_INTERVAL_SECONDS / 2
        ):
            # Re-queued by an earlier sweep and still silent: no live worker took it over.
            message = f"Attempt {attempts} lost its worker and no worker took it over."
            result.failed += _fail(generation_id, attempts, message)
        elif requeued_at is None and _publish_once(marker, generation_id):
            logger.warning("Generation %s: attempt %s is silent, re-queued for a takeover", generation_id, attempts)
            result.requeued += 1
    lost = Generation.objects.filter(status=Status.QUEUED, is_async=True, created_at__lt=now - 2 * stale)
    for generation_id in lost.values_list("pk", flat=True):
        result.republished += _publish_once(f"generation-republished:{generation_id}", generation_id)
    return result
