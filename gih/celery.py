"""The Celery app, configured from Django settings (the CELERY_ namespace)."""

import os

from celery import Celery, signals

from gih.logs import current_request_id, start_context

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gih.settings")

app = Celery("gih")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_ready.connect  # the worker process: with the gevent pool, the one that runs the tasks
@signals.worker_process_init.connect  # each prefork child, after its fork
def _freeze_startup_heap(**kwargs) -> None:
    """Keep the start-up heap out of the collector's way, and large buffers in the heap: see gih/process.py."""
    from gih.process import freeze_startup_heap, keep_buffers_on_heap

    keep_buffers_on_heap()
    freeze_startup_heap()


@signals.before_task_publish.connect
def _carry_request_id(headers: dict | None = None, **kwargs) -> None:
    """A task queued by a request carries its request id in the message headers (gih/logs.py)."""
    request_id = current_request_id()
    if request_id and headers is not None:
        headers.setdefault("request_id", request_id)


@signals.task_prerun.connect
def _bind_task_log_context(task_id: str | None = None, task=None, **kwargs) -> None:
    """Each task's log lines carry the request id it was queued under, and its own id and name."""
    start_context(request_id=getattr(task.request, "request_id", None), task_id=task_id, task=task.name)


@signals.task_postrun.connect
def _clear_task_log_context(**kwargs) -> None:
    start_context()


@signals.worker_process_shutdown.connect
def _mark_metrics_dead(pid: int | None = None, **kwargs) -> None:
    """A pool process ended: its metrics files are marked dead, as gunicorn.conf.py does for web workers."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
