"""Every API error is `{"error": {"message", "code"}}`; the HTML site keeps Django's pages."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

pytestmark = [pytest.mark.urls("gih.tests.urls"), pytest.mark.django_db]


def assert_envelope(response, status: int, code: str) -> str:
    """Assert the exact envelope and return its message."""
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "code"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]["message"]


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/nope", "/api/v1/models/extra", "/api/v2/models"])
def test_it_answers_unknown_api_paths_with_a_404_envelope(client, settings, debug, path):
    settings.DEBUG = debug

    assert_envelope(client.get(path), 404, "notFound")


def test_it_answers_a_wrong_method_with_a_405_envelope(client):
    response = client.post("/api/v1/models", {}, content_type="application/json")

    assert_envelope(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_it_refuses_an_oversized_body_with_a_413_envelope(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64

    response = client.post("/api/v1/test/echo", {"prompt": "x" * 100}, content_type="application/json")

    message = assert_envelope(response, 413, "request_too_large")
    assert "64" in message


def test_it_refuses_an_oversized_body_before_authentication(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64

    response = client.generic("POST", "/api/v1/credits", b"x" * 65, content_type="application/json")

    assert_envelope(response, 413, "request_too_large")


def test_it_accepts_a_body_at_the_limit(client, settings):
    body = b'{"prompt": "at the limit"}'
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(body)

    response = client.generic("POST", "/api/v1/test/echo", body, content_type="application/json")

    assert response.status_code == 200
    assert response.json() == {"received": {"prompt": "at the limit"}}


def test_it_caps_json_bodies_far_below_multipart_uploads(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64
    settings.API_MAX_BODY_BYTES = 10_000
    padding = "x" * 500

    json_response = client.post("/api/v1/test/echo", {"prompt": padding}, content_type="application/json")
    upload = SimpleUploadedFile("reference.png", padding.encode(), content_type="image/png")
    multipart_response = client.post("/api/v1/test/echo", {"prompt": "hi", "reference_image": upload})

    assert_envelope(json_response, 413, "request_too_large")
    assert multipart_response.status_code == 200


def test_it_refuses_a_multipart_body_over_the_upload_limit(client, settings):
    settings.API_MAX_BODY_BYTES = 200

    upload = SimpleUploadedFile("reference.png", b"x" * 500, content_type="image/png")
    response = client.post("/api/v1/test/echo", {"prompt": "hi", "reference_image": upload})

    assert_envelope(response, 413, "request_too_large")


def test_it_rejects_an_unparseable_content_length(client):
    response = client.generic("POST", "/api/v1/test/echo", b"{}", content_type="application/json",
                              CONTENT_LENGTH="lots")

    assert_envelope(response, 400, "invalid_request")


def test_it_refuses_an_unsupported_content_type_with_a_415_envelope(client):
    response = client.post("/api/v1/test/echo", "prompt=hi", content_type="text/plain")

    assert_envelope(response, 415, "unsupported_media_type")


def test_it_rejects_malformed_json_with_a_400_envelope(client):
    response = client.generic("POST", "/api/v1/test/echo", b'{"prompt": ', content_type="application/json")

    message = assert_envelope(response, 400, "invalid_request")
    assert message.startswith("Malformed request body")


def test_it_rejects_a_disallowed_host_with_a_400_envelope(client):
    assert_envelope(client.get("/api/v1/models", HTTP_HOST="evil.example"), 400, "invalid_request")


@pytest.mark.parametrize("debug", [False, True])
def test_it_hides_an_unexpected_exception_behind_a_500_envelope(client, settings, caplog, debug):
    settings.DEBUG = debug

    response = client.get("/api/v1/test/boom")

    assert response.json() == {"error": {"message": "An internal error occurred.", "code": "internal_error"}}
    assert_envelope(response, 500, "internal_error")
    assert b"hunter2" not in response.content
    # The details go to the log, for us.
    assert any("hunter2" in str(record.exc_info[1]) for record in caplog.records if record.exc_info)


def test_it_reports_an_unexpected_generation_error_as_generation_failed(client):
    response = client.get("/api/v1/images/test-boom")

    assert_envelope(response, 500, "generationFailed")
    assert b"hunter2" not in response.content


def test_it_keeps_html_404_pages_outside_the_api(client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b'"error"' not in response.content


def test_it_keeps_html_500_pages_outside_the_api():
    client = Client(raise_request_exception=False)

    response = client.get("/test/boom")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert b'"error"' not in response.content
