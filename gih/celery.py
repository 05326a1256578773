"""The Celery app, configured from Django settings (the CELERY_ namespace)."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gih.settings")

app = Celery("gih")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_ready.connect  # the worker process: with the gevent pool, the one that runs the tasks
@signals.worker_process_init.connect  # each prefork child, after its fork
def _freeze_startup_heap(**kwargs) -> None:
    """Keep the start-up heap out of the collector's way: see gih/process.py."""
    from gih.process import freeze_startup_heap

    freeze_startup_heap()
