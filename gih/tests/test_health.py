"""/healthz (liveness: touches nothing) and /readyz (readiness: each dependency, 503 naming what failed).

S3 is a moto server of this module's own, stopped and started again (the session's shared one stays up).
"""

import pytest
import requests
from django.test import Client

from testsupport.servers import free_port


@pytest.fixture
def _moto_server(private_moto) -> str:
    """Overrides testsupport.fixtures' session server for s3_storage: this test's own, which it may stop."""
    return private_moto.url


def test_healthz_answers_without_touching_any_dependency(settings):
    # No database access is allowed in this test (pytest-django would raise), and a dead cache,
    # broker and storage change nothing.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_each_dependency_with_its_latency(s3_storage):
    response = Client().get("/readyz")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert body["failed"] == []
    assert set(body["checks"]) == {"database", "cache", "broker", "storage"}
    for check in body["checks"].values():
        assert check["ok"] is True
        assert check["latency_ms"] >= 0


@pytest.mark.django_db
def test_readyz_is_503_naming_storage_while_s3_is_down_and_200_once_it_is_back(s3_storage, private_moto):
    private_moto.stop()

    down = Client().get("/readyz")

    assert down.status_code == 503, down.content
    body = down.json()
    assert (body["status"], body["failed"]) == ("unavailable", ["storage"])
    assert body["checks"]["storage"]["ok"] is False
    assert "unreachable (EndpointConnectionError)" in body["checks"]["storage"]["error"]
    assert body["checks"]["database"]["ok"] is True

    private_moto.start()
    try:
        s3_storage.client.create_bucket(Bucket=s3_storage.bucket)  # moto keeps no state across restarts
        back = Client().get("/readyz")
    finally:
        private_moto.stop()

    assert back.status_code == 200, back.content
    assert back.json()["failed"] == []


@pytest.mark.django_db
def test_readyz_names_the_broker_when_redis_is_away(settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there

    response = Client().get("/readyz")

    assert response.status_code == 503
    assert response.json()["failed"] == ["broker"]


def test_probes_are_exempt_from_the_https_requirement(settings):
    settings.API_REQUIRE_HTTPS = True
    settings.SECURE_SSL_REDIRECT = True

    assert Client().get("/healthz").status_code == 200


@pytest.mark.django_db
def test_readyz_checks_the_database_under_gunicorns_gevent_workers(tmp_path):
    # Regression: django-health-check's own (async) view runs the checks on an asyncio loop, where
    # Django refuses every database call under gevent; the probe then said "database: unknown error".
    from testsupport.servers import LiveGunicorn, live_hub_env

    with LiveGunicorn(live_hub_env(tmp_path), tmp_path / "gunicorn.log") as web:
        response = requests.get(f"{web.url}/readyz", timeout=30)

    assert response.status_code == 200, (response.text, web.log())
    assert response.json()["checks"]["database"]["ok"] is True
