"""Celery tasks: thin wrappers over the attempt machine, the recovery sweep and the reaper."""

from celery import shared_task

from generations.attempts import AttemptInProgress, generation_run
from generations.recovery import generations_recover
from generations.retention import images_expire_past_retention
from generations.transitions import generations_reap_stuck


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True, max_retries=None)
def run_generation(self, generation_id: str) -> str:
    """Run a queued generation, or take over one whose worker died (attempts.claim).

    A delivery that finds another attempt alive (a duplicate, or a redelivery while the
    dead attempt's heartbeat is still fresh) looks again once that heartbeat would be
    stale; it never calls the provider meanwhile. The retries end: claim gives up on a
    generation past the reaper's deadline.
    """
    try:
        return generation_run(generation_id=generation_id).status
    except AttemptInProgress as busy:
        raise self.retry(countdown=busy.retry_in) from None


@shared_task(ignore_result=True)
def reap_stuck_generations() -> int:
    return generations_reap_stuck()


@shared_task(ignore_result=True)
def recover_orphaned_generations() -> dict:
    """Beat's recovery sweep (generations/recovery.py): orphans re-queued or failed and refunded."""
    return vars(generations_recover())


@shared_task(ignore_result=True)
def expire_images() -> dict:
    """Beat's retention sweep (generations/retention.py): stored images past IMAGE_RETENTION_DAYS deleted."""
    return vars(images_expire_past_retention())
