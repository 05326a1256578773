"""gunicorn.conf.py, unchanged, plus the bench's publish-time probe in each worker (see bench/celery_probe.py)."""

from pathlib import Path

_PRODUCT_CONFIG = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"
exec(compile(_PRODUCT_CONFIG.read_text(), str(_PRODUCT_CONFIG), "exec"))  # noqa: S102 (our own config file)


_product_post_worker_init = post_worker_init  # noqa: F821 (defined by the exec above)


def post_worker_init(worker) -> None:
    _product_post_worker_init(worker)
    from bench import celery_probe

    celery_probe.install()
