"""The OpenAI adapter over real HTTP against the local stand-in: what it sends, what it returns, how it fails."""

import io
import socket
import threading
import time

import pytest
from PIL import Image

from generations.providers import ProviderError, ProviderRequest, ReferenceImageData
from generations.providers.openai import OpenAIProvider
from testsupport.openai_standin import OpenAIStandin


@pytest.fixture(autouse=True)
def fast_provider(monkeypatch, settings):
    """Retries and timeouts shrunk so the whole file runs in a few seconds."""
    monkeypatch.setattr(OpenAIProvider, "backoff_seconds", (0.01, 0.01))
    settings.PROVIDER_CONNECT_TIMEOUT_SECONDS = 1.0


def _request(**overrides) -> ProviderRequest:
    fields = {
        "provider_model": "gpt-image-2",
        "prompt": "A red bicycle on a beach",
        "n": 2,
        "size": "1024x1024",
        "quality": "high",
        "timeout_seconds": 10.0,
    }
    return ProviderRequest(**{**fields, **overrides})


def _png(colour: str, size: tuple[int, int] = (48, 32)) -> bytes:
    output = io.BytesIO()
    Image.new("RGB", size, colour).save(output, format="PNG")
    return output.getvalue()


def _jpeg(colour: str) -> bytes:
    output = io.BytesIO()
    Image.new("RGB", (40, 40), colour).save(output, format="JPEG")
    return output.getvalue()


def _failure(request: ProviderRequest | None = None) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        OpenAIProvider().generate(request or _request())
    return caught.value


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_it_sends_a_prompt_as_json_and_returns_the_decoded_images(openai_standin, settings):
    settings.OPENAI_ORGANIZATION = "org-hub"

    result = OpenAIProvider().generate(_request(size="1536x1024", quality="medium", user_ref="user-hash"))

    [sent] = openai_standin.requests
    assert sent.path == "/v1/images/generations"
    assert sent.json == {
        "model": "gpt-image-2",
        "prompt": "A red bicycle on a beach",
        "n": 2,
        "size": "1536x1024",
        "quality": "medium",
        "user": "user-hash",
    }
    assert sent.headers["authorization"] == f"Bearer {openai_standin.api_key}"
    assert sent.headers["openai-organization"] == "org-hub"
    assert len(result.images) == 2
    assert Image.open(io.BytesIO(result.images[0])).size == (1536, 1024)
    assert result.provider_request_id.startswith("req_")


def test_it_sends_reference_images_as_a_multipart_edit(openai_standin):
    references = [
        ReferenceImageData(content=_png("red"), content_type="image/png", filename="first.png"),
        ReferenceImageData(content=_jpeg("blue"), content_type="image/jpeg", filename="second.jpg"),
    ]

    result = OpenAIProvider().generate(_request(n=1, size="auto", quality="low", reference_images=references))

    [sent] = openai_standin.requests
    assert sent.path == "/v1/images/edits"
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert sent.fields == {
        "model": "gpt-image-2",
        "prompt": "A red bicycle on a beach",
        "n": "1",
        "size": "auto",
        "quality": "low",
    }
    assert [(file.name, file.filename, file.content_type, file.size) for file in sent.files] == [
        ("image[]", "first.png", "image/png", len(references[0].content)),
        ("image[]", "second.jpg", "image/jpeg", len(references[1].content)),
    ]
    assert len(result.images) == 1
    assert Image.open(io.BytesIO(result.images[0])).size == (1024, 1024)


def test_it_returns_fewer_images_when_openai_sends_fewer(openai_standin):
    openai_standin.set_mode("fewer", count=1)

    result = OpenAIProvider().generate(_request(n=3))

    assert len(result.images) == 1


def test_it_downloads_url_entries_without_sending_the_api_key_along(openai_standin):
    openai_standin.set_mode("url")

    result = OpenAIProvider().generate(_request(n=2, size="512x512"))

    assert [Image.open(io.BytesIO(image)).size for image in result.images] == [(512, 512), (512, 512)]
    api_call, *downloads = openai_standin.requests
    assert api_call.path == "/v1/images/generations"
    assert [download.path for download in downloads] == ["/_files/512x512.png"] * 2
    assert all("authorization" not in download.headers for download in downloads)


def test_it_reports_a_500_as_unavailable_and_does_not_retry_it(openai_standin):
    openai_standin.set_mode("http_500")

    error = _failure()

    assert (error.code, error.permanent) == ("provider_unavailable", False)
    assert error.message.startswith("OpenAI 500: The server had an error")
    assert len(openai_standin.requests) == 1  # it may have generated (and billed) already


def test_it_reports_a_moderation_block_as_a_permanent_moderation_blocked_failure(openai_standin):
    openai_standin.set_mode("moderation_400")

    error = _failure()

    assert (error.code, error.permanent) == ("moderation_blocked", True)
    assert "safety system" in error.message
    assert len(openai_standin.requests) == 1


def test_it_reports_other_400s_as_permanent_bad_requests(openai_standin):
    error = _failure(_request(size="99999x1"))

    assert (error.code, error.permanent) == ("provider_bad_request", True)
    assert error.message.startswith("OpenAI 400: Invalid size")


def test_it_reports_a_401_as_a_permanent_auth_failure(openai_standin):
    openai_standin.set_mode("unauthorized_401")

    error = _failure()

    assert (error.code, error.permanent) == ("provider_auth", True)
    assert error.message == "OpenAI 401: Incorrect API key provided."
    assert len(openai_standin.requests) == 1


def test_it_sends_the_configured_key_and_a_wrong_one_is_refused(openai_standin, settings):
    settings.OPENAI_API_KEY = "sk-wrong"

    error = _failure()

    assert error.code == "provider_auth"
    assert openai_standin.requests[0].headers["authorization"] == "Bearer sk-wrong"


def test_it_retries_a_429_twice_honouring_retry_after_then_gives_up(openai_standin):
    openai_standin.set_mode("rate_limited_429", retry_after=0.2)

    started = time.monotonic()
    error = _failure()

    assert (error.code, error.permanent) == ("provider_rate_limited", False)
    assert len(openai_standin.requests) == 3
    assert time.monotonic() - started >= 0.4  # two pauses of Retry-After, not the 0.01 s backoff


def test_it_caps_a_long_retry_after(openai_standin, monkeypatch):
    monkeypatch.setattr(OpenAIProvider, "retry_after_cap_seconds", 0.05)
    openai_standin.set_mode("rate_limited_429", retry_after=60)

    started = time.monotonic()
    error = _failure()

    assert error.code == "provider_rate_limited"
    assert len(openai_standin.requests) == 3
    assert time.monotonic() - started < 5


def test_it_reports_a_read_timeout_and_does_not_retry_it(openai_standin):
    openai_standin.set_mode("ok", delay=1.0)

    error = _failure(_request(timeout_seconds=0.2))

    assert (error.code, error.permanent) == ("provider_timeout", False)
    assert len(openai_standin.requests) == 1  # the request reached OpenAI: a retry could bill twice


def test_it_reports_a_refused_connection_as_unreachable(settings):
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{_unused_port()}/v1"
    settings.OPENAI_API_KEY = "sk-anything"

    error = _failure()

    assert (error.code, error.permanent) == ("provider_unreachable", False)


def test_it_retries_a_refused_connection_because_the_request_never_left(settings, monkeypatch):
    monkeypatch.setattr(OpenAIProvider, "backoff_seconds", (0.5, 0.5))
    standin = OpenAIStandin(port=_unused_port())
    settings.OPENAI_BASE_URL = standin.base_url
    settings.OPENAI_API_KEY = standin.api_key
    # The first try finds nothing listening; the server is up before the retry.
    threading.Timer(0.1, standin.start).start()
    try:
        result = OpenAIProvider().generate(_request(n=1))
    finally:
        time.sleep(0.15)  # never stop before the timer has started it
        standin.stop()

    assert len(result.images) == 1
    assert len(standin.requests) == 1


def test_it_returns_bytes_that_are_not_an_image_for_the_service_to_reject(openai_standin):
    openai_standin.set_mode("not_image")

    result = OpenAIProvider().generate(_request(n=1))

    assert result.images == [b"this is plain text, not an image"]


def test_it_reports_invalid_base64_as_permanent_invalid_output(openai_standin):
    openai_standin.set_mode("bad_base64")

    error = _failure()

    assert (error.code, error.permanent) == ("invalid_output", True)


def test_it_reports_a_truncated_json_body_as_invalid_output(openai_standin):
    openai_standin.set_mode("bad_json")

    error = _failure()

    assert (error.code, error.permanent) == ("invalid_output", False)
    assert len(openai_standin.requests) == 1


def test_it_reports_a_body_that_stops_halfway_as_unreachable_and_does_not_retry_it(openai_standin):
    openai_standin.set_mode("drop_mid_body")

    error = _failure()

    assert (error.code, error.permanent) == ("provider_unreachable", False)
    assert len(openai_standin.requests) == 1  # OpenAI ran it: a retry could bill twice


def test_it_reports_a_body_that_stalls_halfway_as_a_timeout(openai_standin):
    openai_standin.set_mode("stall_mid_body", delay=2.0)

    error = _failure(_request(timeout_seconds=0.5))

    assert (error.code, error.permanent) == ("provider_timeout", False)
    assert len(openai_standin.requests) == 1


def test_it_reads_a_body_that_pauses_less_than_the_timeout_in_full(openai_standin):
    openai_standin.set_mode("stall_mid_body", delay=0.3)

    result = OpenAIProvider().generate(_request(timeout_seconds=10.0))

    assert len(result.images) == 2
