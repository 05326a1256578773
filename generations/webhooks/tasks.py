"""Celery tasks of webhooks, routed to their own `webhooks` queue (the Procfile's webhooks process).

A receiver that is slow or dead holds one greenlet of that process, never a generation worker.
"""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from generations.webhooks.delivery import delivery_attempt
from generations.webhooks.selectors import deliveries_overdue

SWEEP_BATCH = 500


@shared_task(acks_late=True, ignore_result=True)
def deliver_webhook(delivery_id: str) -> None:
    """One attempt; a retry due soon is queued with a countdown, later ones are left to the sweep."""
    retry_in = delivery_attempt(delivery_id=delivery_id)
    if retry_in is not None and retry_in <= settings.WEBHOOK_COUNTDOWN_MAX_SECONDS:
        deliver_webhook.apply_async((delivery_id,), countdown=retry_in)


@shared_task(ignore_result=True)
def sweep_webhook_deliveries() -> int:
    """Beat: queue deliveries overdue by a sweep interval (long retries, lost tasks, a broker outage at queueing).

    A delivery queued twice is attempted once: delivery._claim takes only a due attempt.
    """
    before = timezone.now() - timedelta(seconds=settings.WEBHOOK_SWEEP_SECONDS)
    overdue = deliveries_overdue(before=before, limit=SWEEP_BATCH)
    for delivery_id in overdue:
        deliver_webhook.delay(delivery_id)
    return len(overdue)
