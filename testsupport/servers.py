"""Private Redis and PostgreSQL servers for fault tests: started on free ports, stopped and restarted at will.

Why private: a fault test restarts its broker or database mid-flight. Doing that to the
shared servers would break every other test run on the machine; a private instance costs a
second or two to start and belongs to one test alone. Both are plain server binaries
(redis-server, PostgreSQL's own bin directory), so nothing is mocked.
"""

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _wait(check, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"Timed out after {seconds}s waiting for {what}")
        time.sleep(0.05)


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
        return True
    return False


class PrivateRedis:
    """A redis-server of our own. stop()/start() keep the port, as a restarted production Redis would."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed")
        self.port = free_port()
        self._process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://{HOST}:{self.port}/{db}"

    def start(self) -> "PrivateRedis":
        # No persistence: a restart loses what was queued, the harsher case.
        command = ["redis-server", "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no"]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        _wait(lambda: _accepts(self.port), seconds=20, what="redis-server")
        return self

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            self._process.wait(timeout=20)
        self._process = None

    def __enter__(self) -> "PrivateRedis":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def postgres_bin() -> Path | None:
    """The newest PostgreSQL bin directory installed (Debian's layout), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda path: int(path.split("/")[4]))
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    """A PostgreSQL cluster of our own in a temporary directory, trust auth, on a free port.

    PostgreSQL refuses to run as root, so under root the cluster belongs to the `postgres`
    system user (Debian's packages create it). restart() is a fast shutdown and start on the
    same port: every open connection dies, as in a production restart or failover.
    """

    def __init__(self, *, log_lock_waits: bool = True) -> None:
        bin_dir = postgres_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries are not installed")
        self.bin = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="gih-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._user = "postgres" if os.geteuid() == 0 else None
        self._log_lock_waits = log_lock_waits
        if self._user:
            shutil.chown(self.root, user=self._user)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603 (PostgreSQL's own binaries, fixed arguments)
            [str(self.bin / args[0]), *args[1:]], user=self._user, check=check, capture_output=True, text=True
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@{HOST}:{self.port}/{database}"

    def start(self) -> "PrivatePostgres":
        if not (self.data / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        options = (
            f"-p {self.port} -c listen_addresses={HOST} -c unix_socket_directories={self.root} "
            "-c max_connections=60 -c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            f"-c deadlock_timeout=200ms -c log_lock_waits={'on' if self._log_lock_waits else 'off'}"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop", check=False)

    def restart(self, *, down_seconds: float = 0.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PrivatePostgres":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.destroy()


class PrivateMoto:
    """A moto S3 server of one test's own on a fixed port, which it may stop and start again (state is lost)."""

    def __init__(self) -> None:
        self.port = free_port()
        self._server = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> "PrivateMoto":
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address=HOST, port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


def live_hub_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a gunicorn for a test: this test's database and Redis, its own var dir, plus `extra`."""
    from urllib.parse import urlsplit

    from django.conf import settings
    from django.db import connection

    database = urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"])
    return {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "gih.settings",
        "DATABASE_URL": database.geturl(),
        "REDIS_URL": settings.REDIS_URL,
        "GIH_VAR_DIR": str(tmp_path / "var"),
        **extra,
    }


class LiveGunicorn:
    """The web process as the Procfile runs it (`gunicorn gih.wsgi`, gunicorn.conf.py, gevent) on a free port."""

    def __init__(self, env: dict[str, str], log_path: Path, *, workers: int = 1) -> None:
        self.port = free_port()
        self.log_path = log_path
        self._env = {**env, "PORT": str(self.port), "HOST": HOST, "WEB_CONCURRENCY": str(workers)}
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> "LiveGunicorn":
        import sys

        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        root = Path(__file__).resolve().parent.parent
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 (our own web process, fixed arguments)
                [gunicorn, "-c", str(root / "gunicorn.conf.py"), "gih.wsgi"],
                cwd=root,
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() reaches the workers too
            )
        _wait(
            lambda: self._process.poll() is not None or "Froze" in self.log(), seconds=60, what="gunicorn to start"
        )
        if self._process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{self.log()}")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def worker_pids(self) -> list[int]:
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == self._process.pid:
                    pids.append(int(stat.parent.name))
        return pids

    def stop(self) -> None:
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=20)
        self._process = None

    def __enter__(self) -> "LiveGunicorn":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
