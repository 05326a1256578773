"""Celery tasks: thin wrappers over generations/services.py."""

from celery import shared_task

from generations import services


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_generation(generation_id: str) -> str:
    """Run a queued generation. A duplicate delivery finds it claimed and does nothing."""
    return services.generation_run(generation_id=generation_id).status


@shared_task(ignore_result=True)
def reap_stuck_generations() -> int:
    return services.generations_reap_stuck()
