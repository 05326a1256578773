"""Enqueue-to-start probe: the web process stamps each task message at publish, the worker logs the delay at start.

Loaded only by the bench (bench/gunicorn_bench.py in the web workers, `--include bench.celery_probe` in the
Celery worker). One header per message and one appended line per task start; both clocks are this machine's.
"""

import json
import os
import time

from celery import signals

HEADER = "bench_published_at"


def _stamp(sender=None, headers=None, **kwargs) -> None:
    if headers is not None:
        headers[HEADER] = time.time()


def _record(sender=None, task_id=None, task=None, args=None, **kwargs) -> None:
    started = time.time()
    published = task.request.get(HEADER) if task is not None else None
    path = os.environ.get("BENCH_PROBE_FILE")
    if published is None or not path:
        return
    line = json.dumps({"task": sender.name, "args": list(args or ()), "published": published, "started": started})
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def install() -> None:
    signals.before_task_publish.connect(_stamp, weak=False, dispatch_uid="bench-stamp")
    signals.task_prerun.connect(_record, weak=False, dispatch_uid="bench-record")


install()
