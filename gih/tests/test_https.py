"""With DEBUG off: plain-HTTP API calls are refused (never redirected), probes are never redirected."""

import pytest
from django.test import Client

from billing.selectors import balance_get
from generations.models import Generation


@pytest.fixture
def production_security(settings):
    """The security settings DEBUG-off gives (see gih/settings.py); the test client is built after them."""
    settings.SECURE_SSL_REDIRECT = True
    settings.API_REQUIRE_HTTPS = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


BODY = {"model": "gpt-image-2", "prompt": "a red fox", "size": "1024x1024", "quality": "low"}


@pytest.mark.parametrize("path", ["/api/v1/images/generations", "/v1/images/generations"])
def test_it_refuses_a_plain_http_api_post_instead_of_redirecting_it(production_security, issued_key, user, path):
    credits = balance_get(user=user)["credits"]
    response = Client().post(
        path, BODY, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {issued_key.raw_key}"
    )

    assert response.status_code == 403
    assert "Location" not in response
    error = response.json()["error"]
    assert error["code"] == "https_required"
    assert "HTTPS" in error["message"]
    if path.startswith("/v1/"):
        assert error["type"] == "invalid_request_error"
        assert error["param"] is None
    assert not Generation.objects.exists()
    assert balance_get(user=user)["credits"] == credits


def test_it_refuses_plain_http_on_every_api_path(production_security, db):
    for path in ("/api/v1/models", "/api/v1/credits", "/api/nowhere", "/v1/models"):
        response = Client().get(path)
        assert (response.status_code, response.json()["error"]["code"]) == (403, "https_required"), path


def test_it_serves_the_api_over_https_directly_or_through_our_tls_proxy(production_security, api):
    assert api.get("/api/v1/credits", secure=True).status_code == 200
    assert api.get("/api/v1/credits", HTTP_X_FORWARDED_PROTO="https").status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_it_never_redirects_health_and_metrics_probes(production_security, db, path):
    response = Client().get(path)

    assert response.status_code not in (301, 302, 403)
    if path == "/healthz":
        assert response.status_code == 200


def test_it_still_redirects_account_pages_to_https(production_security, db):
    response = Client().get("/login/")

    assert response.status_code == 301
    assert response["Location"] == "https://testserver/login/"


def test_it_serves_plain_http_in_development(settings, api):
    settings.API_REQUIRE_HTTPS = False
    assert api.get("/api/v1/credits").status_code == 200
