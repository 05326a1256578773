"""Celery tasks for credits: thin wrappers over billing.services."""

from celery import shared_task

from billing import services


@shared_task
def expire_credit_batches() -> int:
    """Write off what is left in expired batches (scheduled every minute by beat); returns the credits expired."""
    return services.credits_expire_due()
