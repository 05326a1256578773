"""gunicorn.conf.py, unchanged, plus the bench's publish-time probe in each worker (see bench/celery_probe.py)."""

from pathlib import Path

_PRODUCT_CONFIG = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"
exec(compile(_PRODUCT_CONFIG.read_text(), str(_PRODUCT_CONFIG), "exec"))  # noqa: S102 (our own config file)


def post_worker_init(worker) -> None:
    from bench import celery_probe

    celery_probe.install()
