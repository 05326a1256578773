"""The model catalogue (enabled models with their prices), kept per process and invalidated on every edit.

Every generation request needs its model and a price row: two queries for data staff change a few times
a year. Each process keeps one snapshot tagged with a version number that lives in the shared cache
(Redis in production). Any write to ImageModel or ModelPrice (admin save, queryset update, delete) bumps
the version, once at once and once after its transaction commits. The process that made the edit drops
its snapshot at once; every other process compares versions at most every CATALOGUE_RECHECK_SECONDS (1 s),
so an edit reaches all of them within that. Why not on every request: the Redis GET was 3.5 % of a
generation's web CPU (bench/RESULTS.md), to learn of an edit made a few times a year. The snapshot is only
trusted while the version can be read: with the cache unreachable, or inside a transaction (whose reads
may yet roll back), the catalogue comes straight from the database.
"""

import logging
import secrets
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

logger = logging.getLogger(__name__)

VERSION_KEY = "gih:catalogue-version"


@dataclass(frozen=True)
class Catalogue:
    version: int | None
    models: dict  # id -> enabled ImageModel, with `prices` prefetched (quality, max_pixels order)

    def enabled_model(self, model_id: str):
        return self.models.get(model_id)


_lock = threading.Lock()
_snapshot: Catalogue | None = None
_verified_at = 0.0  # time.monotonic() when _snapshot's version last matched the shared one


def _version() -> int | None:
    try:
        version = cache.get(VERSION_KEY)
        if version is None:
            # A random start: after the cache lost the key, no snapshot's old number can match.
            cache.add(VERSION_KEY, secrets.randbits(48), timeout=None)
            version = cache.get(VERSION_KEY)
        return version
    except Exception:  # the cache is down: read the database instead of trusting a snapshot
        logger.warning("Catalogue version unreadable; reading the catalogue from the database", exc_info=True)
        return None


def catalogue() -> Catalogue:
    """The current catalogue: this process' snapshot if verified within CATALOGUE_RECHECK_SECONDS or still
    current, else a fresh load."""
    global _snapshot, _verified_at
    from generations.selectors import enabled_models

    snapshot = _snapshot
    if snapshot is not None and time.monotonic() - _verified_at < settings.CATALOGUE_RECHECK_SECONDS:
        return snapshot
    version = _version()
    if version is not None and snapshot is not None and snapshot.version == version:
        _verified_at = time.monotonic()
        return snapshot
    loaded = Catalogue(version=version, models={model.id: model for model in enabled_models()})
    if version is not None and not connection.in_atomic_block:
        with _lock:
            _snapshot, _verified_at = loaded, time.monotonic()
    return loaded


def _bump() -> None:
    try:
        cache.add(VERSION_KEY, secrets.randbits(48), timeout=None)
        cache.incr(VERSION_KEY)
    except Exception:
        logger.warning("Could not bump the catalogue version", exc_info=True)
    global _snapshot
    with _lock:
        _snapshot = None


def catalogue_invalidate() -> None:
    """A catalogue row changed: every process reloads now, and again once the change is committed."""
    _bump()
    transaction.on_commit(_bump)
