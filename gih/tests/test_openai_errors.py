"""Unknown routes and methods on both API faces answer JSON (never HTML, never a CSRF 403); /v1 in OpenAI's shape."""

import pytest
from django.test import Client

from gih.openai_errors import openai_error, openai_error_response

pytestmark = [pytest.mark.urls("gih.tests.urls"), pytest.mark.django_db]


@pytest.fixture
def strict_client():
    """A browser-like client: Django's CSRF check is on, as for any client without a CSRF cookie."""
    return Client(enforce_csrf_checks=True)


def assert_openai_error(response, status: int, kind: str, code: str | None) -> dict:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert (body["error"]["type"], body["error"]["code"]) == (kind, code)
    return body["error"]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/nope", "/api/v1/images/generations/extra"])
def test_it_answers_any_method_on_an_unknown_api_path_with_the_404_envelope(strict_client, method, path):
    response = strict_client.generic(method, path, b"{}", content_type="application/json")

    assert response.status_code == 404
    assert response.json() == {"error": {"message": f"No API endpoint at {path}.", "code": "notFound"}}


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize("path", ["/v1", "/v1/nope", "/v1/images/variations", "/v1/chat/completions"])
def test_it_answers_an_unknown_openai_path_with_openai_s_404_error(strict_client, method, path):
    response = strict_client.generic(method, path, b"{}", content_type="application/json")

    error = assert_openai_error(response, 404, "not_found_error", "not_found")
    assert error["message"] == f"No API endpoint at {path}."
    assert response["x-should-retry"] == "false"


def test_it_answers_a_wrong_method_on_a_known_api_path_with_the_405_envelope(strict_client):
    response = strict_client.delete("/api/v1/models")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_it_refuses_an_oversized_openai_body_in_openai_s_shape(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64

    response = client.generic("POST", "/v1/images/generations", b"x" * 65, content_type="application/json")

    assert_openai_error(response, 413, "invalid_request_error", "request_too_large")


def test_it_keeps_django_s_csrf_page_for_the_html_site(strict_client):
    response = strict_client.post("/login/", {"username": "a", "password": "b"})

    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("status", "code", "kind", "should_retry"),
    [
        (400, "invalid_request", "invalid_request_error", "false"),
        (401, "invalidApiKey", "authentication_error", "false"),
        (402, "insufficientCredits", "insufficient_quota", "false"),
        (409, "idempotency_key_reused", "invalid_request_error", "false"),
        (429, "rate_limited", "rate_limit_error", None),
        (500, "generationFailed", "server_error", None),
        (503, "service_unavailable", "server_error", None),
    ],
)
def test_it_maps_each_status_to_openai_s_type_and_says_when_a_retry_cannot_help(status, code, kind, should_retry):
    response = openai_error_response(status, code, "Something.")

    assert response.status_code == status
    assert openai_error(status, code, "Something.")["error"]["type"] == kind
    assert response.get("x-should-retry") == should_retry


def test_it_names_the_field_a_validation_message_starts_with():
    assert openai_error(400, "invalid_request", "size: must be WxH.")["error"]["param"] == "size"
    assert openai_error(400, "invalid_request", "Malformed request body: x")["error"]["param"] is None


def test_it_lets_a_permanent_server_failure_say_no_retry():
    response = openai_error_response(500, "generationFailed", "The provider refused.", retryable=False)

    assert response["x-should-retry"] == "false"


def test_it_answers_the_openai_face_in_english_whatever_the_browser_asks(client):
    response = client.post("/v1/nope", HTTP_ACCEPT_LANGUAGE="zh-hans,th;q=0.8")

    assert response.json()["error"]["message"] == "No API endpoint at /v1/nope."
    assert "Content-Language" not in response
