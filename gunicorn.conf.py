"""Gunicorn settings for the web process (the Procfile's `web`).

gevent workers: a sync generation waits 30 s to 10+ minutes on the provider, so
one request per process (sync workers) or per thread would need hundreds of
processes/threads. A greenlet costs a few KB, so each worker holds a thousand
in-flight calls while cheap endpoints keep answering. The generation service
returns its database connection to psycopg's pool before the provider call, so
those waits pin no Postgres connection.
"""

import os

from gih.gunicorn_errors import install as install_json_error_pages
from gih.logs import gunicorn_logconfig

# Requests gunicorn itself refuses (malformed HTTP, over-long headers) answer in the API's JSON envelope.
install_json_error_pages()

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104 (behind the platform's proxy)
worker_class = "gevent"
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 2))
worker_connections = int(os.environ.get("WEB_WORKER_CONNECTIONS", "1000"))
# The gevent worker's heartbeat, not a request limit: long generations are not killed by it.
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
# On deploys, give in-flight generations time to finish (the sync limit is 800 s).
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "900"))
keepalive = 5
_access_log = os.environ.get("WEB_ACCESS_LOG", "").lower() in {"1", "true", "yes"}
accesslog = "-" if _access_log else None
# gunicorn's own lines as JSON too when the app logs JSON (LOG_FORMAT, same default as gih/settings.py).
_debug = (os.environ.get("DEBUG") or "true").strip().lower() in {"1", "true", "yes", "on"}
logconfig_dict = gunicorn_logconfig(
    fmt=os.environ.get("LOG_FORMAT") or ("console" if _debug else "json"), access_log=_access_log
)
# Access-log fields are built only when WEB_ACCESS_LOG turned the access log on (gih/gunicorn_access.py).
logger_class = "gih.gunicorn_access.AccessLogWhenEnabled"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker) -> None:
    """Each worker, once the app is loaded: keep the start-up heap out of the collector's way, and large
    buffers in the heap (gih/process.py)."""
    from gih.process import freeze_startup_heap, keep_buffers_on_heap

    keep_buffers_on_heap()
    freeze_startup_heap()


def child_exit(server, worker) -> None:
    """A worker ended (restart, crash, SIGKILL): mark its metrics files dead (gih/metrics.py, multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
