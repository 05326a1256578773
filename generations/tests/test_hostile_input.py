"""Inputs that used to 500 or leave the envelope: absurd nesting, NUL in the path, chunked bodies, broken HTTP.

The first tests use Django's test client; the rest talk to a real gunicorn (the Procfile's
web process) over raw sockets and `requests`, since chunked bodies and gunicorn's own
error pages exist only there.
"""

import json
import socket

import pytest
import requests

from accounts.services import api_key_create
from generations.models import Generation
from generations.tests.factories import GENERATIONS_URL
from testsupport.faults import assert_books_clean
from testsupport.servers import LiveGunicorn


def assert_envelope(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


@pytest.mark.django_db
def test_it_refuses_absurdly_nested_json_with_a_400(api, user):
    body = "[" * 50_000 + "]" * 50_000
    response = api.post(GENERATIONS_URL, body, content_type="application/json")
    assert_envelope(response, 400, "invalid_request")
    assert "nested too deeply" in response.json()["error"]["message"]
    assert not Generation.objects.exists()


@pytest.mark.django_db
def test_it_still_parses_ordinary_json_and_refuses_nan(api):
    nan = '{"model": "gpt-image-2", "prompt": "x", "n": NaN}'
    assert_envelope(api.post(GENERATIONS_URL, nan, content_type="application/json"), 400, "invalid_request")
    response = api.post(GENERATIONS_URL, '{"model": "nope", "prompt": "x"}', content_type="application/json")
    assert_envelope(response, 400, "invalid_request")
    assert response.json()["error"]["message"].startswith("model:")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/generations/%00", "/api/v1/generations/gen_%00abc", "/api/v1/%00"])
def test_it_answers_nul_in_an_api_path_with_a_404_envelope(api, path):
    assert_envelope(api.get(path), 404, "notFound")


@pytest.mark.django_db
def test_it_answers_nul_in_a_page_path_with_a_404_page(client):
    response = client.get("/generations/%00")
    assert response.status_code == 404


# --- Against a real gunicorn ------------------------------------------------------


@pytest.fixture(scope="module")
def web(worker_env, tmp_path_factory):
    env = {**worker_env, "LOCAL_PROVIDER_DELAY_SECONDS": "0", "DEBUG": "true"}
    with LiveGunicorn(env, tmp_path_factory.mktemp("web") / "gunicorn.log") as server:
        yield server


@pytest.fixture
def bearer(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key_create(user=user).raw_key}"}


def chunks(data: bytes, size: int = 7):
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("generation_files_cleanup")
def test_it_reads_a_chunked_json_body_under_gunicorn(web, bearer):
    body = json.dumps({"model": "gpt-image-2", "prompt": "a chunked request", "aspect_ratio": "1:1", "quality": "1K"})
    headers = {**bearer, "Content-Type": "application/json"}
    # A generator body makes requests send Transfer-Encoding: chunked with no Content-Length.
    response = requests.post(web.url + GENERATIONS_URL, data=chunks(body.encode()), headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "succeeded"
    assert_books_clean()


@pytest.mark.django_db(transaction=True)
def test_it_refuses_a_chunked_body_over_the_limit_with_a_413_envelope(web, bearer, settings):
    oversized = b'{"prompt": "' + b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + b'"}'
    headers = {**bearer, "Content-Type": "application/json"}
    response = requests.post(web.url + GENERATIONS_URL, data=chunks(oversized, 65536), headers=headers, timeout=60)
    assert_envelope(response, 413, "request_too_large")
    assert not Generation.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_refuses_deep_json_and_nul_paths_under_gunicorn(web, bearer):
    deep = "[" * 50_000 + "]" * 50_000
    headers = {**bearer, "Content-Type": "application/json"}
    response = requests.post(web.url + GENERATIONS_URL, data=deep, headers=headers, timeout=60)
    assert_envelope(response, 400, "invalid_request")
    assert_envelope(requests.get(web.url + "/api/v1/generations/%00", headers=bearer, timeout=60), 404, "notFound")


def raw_request(web: LiveGunicorn, data: bytes) -> tuple[int, dict]:
    """Send bytes as they are (no HTTP library would send them); the status and JSON body of the answer."""
    with socket.create_connection(("127.0.0.1", web.port), timeout=30) as sock:
        sock.sendall(data)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:  # gunicorn closed with our bytes unread; its answer came first
            pass
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/json" in head.lower(), head
    return status, json.loads(body)


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"GET /api/v1/models HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431, "request_headers_too_large"),
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid_request"),
        (b"NOT A REQUEST\r\n\r\n", 400, "invalid_request"),
        (b"GET /api/v1/models HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400, "invalid_request"),
    ],
    ids=["long-header", "long-request-line", "garbage", "malformed-header"],
)
def test_it_answers_http_gunicorn_cannot_parse_with_a_json_envelope(web, data, status, code):
    answered, body = raw_request(web, data)
    assert answered == status
    assert body["error"]["code"] == code and body["error"]["message"]


@pytest.mark.django_db(transaction=True)
def test_an_anonymous_chunked_api_body_is_not_read_before_its_401(web):
    # Headers and a first chunk, then nothing: a server that read the whole body would wait here forever.
    head = (
        b"POST /api/v1/images/generations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
    )
    with socket.create_connection(("127.0.0.1", web.port), timeout=30) as sock:
        sock.sendall(head)
        answer = b""
        while b"missingApiKey" not in answer and (chunk := sock.recv(65536)):
            answer += chunk
    assert answer.split(b" ", 2)[1] == b"401", answer
    assert b'"missingApiKey"' in answer
