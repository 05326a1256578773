import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage


@pytest.fixture
def media_cleanup(db):
    """Delete the image files the test's generations stored on local disk.

    The database rows roll back (or are flushed) after each test; the files would stay.
    Only files of rows in this test database are touched, never another run's.
    """
    yield
    from generations.models import GeneratedImage

    if not isinstance(default_storage, FileSystemStorage):
        return
    for name in GeneratedImage.objects.values_list("file", flat=True):
        default_storage.delete(name)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(default_storage.path(name)))


# --- A real Celery worker, for the async tests -----------------------------------
#
# The worker is a `celery -A gih worker` subprocess on the same Redis database as the
# test process (settings.CELERY_BROKER_URL, from REDIS_URL) and on pytest-django's
# test database, so the tests using it must be django_db(transaction=True): the worker
# only sees committed rows.


@dataclass
class CeleryWorker:
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def children(self) -> list[int]:
        """PIDs of the prefork pool's processes."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                # pid (comm) state ppid ...: comm may hold spaces, so split after its ')'.
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    pids.append(int(stat.parent.name))
        return pids

    def wait_for_log(self, text: str, timeout: float) -> None:
        try:
            wait_until(lambda: text in self.log(), timeout=timeout, what=f"{text!r} in the worker log")
        except pytest.fail.Exception:
            pytest.fail(f"{text!r} not in the worker log after {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool: no shutdown, no acknowledgement, nothing requeued."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # cold shutdown: its tasks were purged or are done
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # strays of the pool, if any


# "Eventually" bounds are stretched by this factor: a loaded machine (CI beside other work, two cores)
# may take several times longer than a quiet one, and a positive wait returns as soon as it holds.
PATIENCE = float(os.environ.get("GIH_TEST_PATIENCE", "4"))


def wait_until(predicate: Callable[[], object], *, timeout: float, what: str = "the condition", interval=0.05):
    """Poll `predicate` until it returns something truthy; fail after `timeout` (times PATIENCE) seconds."""
    timeout *= PATIENCE
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


ASYNC_BODY = {"model": "gpt-image-2", "prompt": "A cinematic product photo with premium studio lighting", "async": True}


def submit_async(client, **fields) -> dict:
    """POST an async generation; returns the 202 body."""
    response = client.post("/api/v1/images/generations", {**ASYNC_BODY, **fields}, format="json")
    assert response.status_code == 202, response.content
    return response.json()


def wait_for_status(generation_id: str, *statuses: str, timeout: float):
    """Poll the row until its status is one of `statuses`; returns it."""
    from generations.models import Generation

    return wait_until(
        lambda: Generation.objects.filter(pk=generation_id, status__in=statuses).first(),
        timeout=timeout,
        what=f"generation {generation_id} to be {' or '.join(statuses)}",
    )


@pytest.fixture(scope="session")
def worker_env(django_db_setup) -> dict[str, str]:
    """The environment of a worker process that shares this test run's database, broker and media."""
    from django.db import connection

    if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("The async tests need a Postgres DATABASE_URL and REDIS_URL (a dedicated Redis database).")
    database_url = urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"])
    env = {name: value for name, value in os.environ.items() if not name.startswith(("OPENAI_", "PYTEST_"))}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "gih.settings",
        "DATABASE_URL": database_url.geturl(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "IMAGE_PROVIDER": "local",
        "LOCAL_PROVIDER_DELAY_SECONDS": "0",
    }


def _worker_starter(worker_env: dict[str, str], log_dir: Path):
    started: list[CeleryWorker] = []

    def start(*, pool: str = "prefork", concurrency: int = 1, queues: str = "", **env: str) -> CeleryWorker:
        number = len(started) + 1
        log_path = log_dir / f"worker-{number}.log"
        command = [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "gih",
            "worker",
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",
            "--hostname",
            f"gih-test-{os.getpid()}-{number}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        if queues:  # e.g. "webhooks", as the Procfile's webhooks process (default: the generations' queue)
            command += ["--queues", queues]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                env={**worker_env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so kill() reaches the pool too
            )
        worker = CeleryWorker(process=process, log_path=log_path)
        started.append(worker)
        wait_until(
            lambda: " ready." in worker.log() or process.poll() is not None, timeout=30, what="the worker to start"
        )
        assert process.poll() is None, f"The worker exited:\n{worker.log()}"
        return worker

    def stop_all() -> None:
        for worker in started:
            worker.stop()

    return start, stop_all


@pytest.fixture(scope="module")
def start_module_worker(worker_env, tmp_path_factory):
    """Start workers that live for the test module (stopped at its end)."""
    start, stop_all = _worker_starter(worker_env, tmp_path_factory.mktemp("celery"))
    yield start
    stop_all()


@pytest.fixture
def start_worker(worker_env, tmp_path):
    """Start workers that live for one test (for tests that kill them)."""
    start, stop_all = _worker_starter(worker_env, tmp_path)
    yield start
    stop_all()


@pytest.fixture
def empty_queue(worker_env):
    """Start each async test with no task left over in the broker, queued or unacknowledged."""
    from gih.celery import app

    def empty() -> None:
        app.control.purge()
        with app.connection_for_write() as connection:
            # A SIGKILLed worker's unacknowledged tasks (kombu's Redis ack emulation), and webhook deliveries.
            connection.default_channel.client.delete("unacked", "unacked_index", "webhooks")

    empty()
    yield
    empty()


@pytest.fixture
def generation_files_cleanup(transactional_db):
    """Delete the files (images, references) the test's generations left under MEDIA_ROOT."""
    yield
    from generations.models import Generation

    for generation_id in Generation.objects.values_list("pk", flat=True):
        for folder in ("generations", "references"):
            shutil.rmtree(Path(settings.MEDIA_ROOT) / folder / generation_id, ignore_errors=True)
