"""OpenAI Images API adapter: /images/generations for prompts, /images/edits with reference images.

A streaming caller (on_partial) gets OpenAI's own stream: the request says `stream: true`
and the adapter reads the server-sent events as they arrive (gih/sse.py), handing each
partial image on at once and collecting the completed ones.

Retry policy: OpenAI bills an image once it has generated it, and a request that
timed out or failed with a 5xx may well have been generated (and billed) without
us seeing the result. So the adapter retries only where the request provably did
no work: a connection that could not be opened (refused, connect timeout: the
request never left) and 429 (rejected before any work). Everything else fails
at once with `permanent` telling the caller whether a new attempt could succeed.
"""

import binascii
import http.cookiejar
import time
from collections.abc import Callable

import pybase64
import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError, ProtocolError, ReadTimeoutError

from generations.providers import json_body
from generations.providers.base import (
    ImageProvider,
    PartialCallback,
    PartialImage,
    ProviderError,
    ProviderRequest,
    ProviderResult,
    TokenUsage,
)
from gih.http_session import EnvironmentOnceSession
from gih.sse import iter_events

_REJECTION_MARKERS = ("moderation", "content_policy", "safety")
# Request options sent only when the client set them (None means OpenAI's default).
_OPTIONAL_FIELDS = ("output_format", "output_compression", "background", "moderation")


def _build_session() -> requests.Session:
    session = EnvironmentOnceSession()
    # One pooled connection per in-flight call of a gevent worker (it runs ~1000 at once);
    # urllib3's pool is thread- and greenlet-safe.
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=1000)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # Calls are independent: never carry one call's load-balancer cookies into another.
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return session


_session = _build_session()


def _never_sent(error: requests.ConnectionError) -> bool:
    """True when the connection could not be opened, so OpenAI never saw the request."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    cause = error.args[0] if error.args else None
    return isinstance(getattr(cause, "reason", None), NewConnectionError)


def _transport_error(error: requests.RequestException, what: str) -> ProviderError:
    cause = error.args[0] if error.args else None
    # requests reports a timeout while reading the body as a ConnectionError.
    if isinstance(error, requests.ReadTimeout) or isinstance(cause, ReadTimeoutError):
        return ProviderError(f"OpenAI did not answer {what} in time: {error}", code="provider_timeout", permanent=False)
    if isinstance(error, requests.ConnectionError):
        return ProviderError(f"OpenAI unreachable ({what}): {error}", code="provider_unreachable", permanent=False)
    return ProviderError(f"OpenAI call failed ({what}): {error!r}", code="invalid_output", permanent=False)


def _read_body(response: requests.Response) -> bytes:
    """The whole JSON body in one read, parsed by the caller with orjson.

    requests would read the ~2 MB answer in 10 KB chunks and json.loads it: ~5 ms of web CPU per image
    (bench/RESULTS.md). A body that stops or stalls halfway fails like a dropped connection or a timeout.
    """
    try:
        return response.raw.read(decode_content=True)
    except (ReadTimeoutError, ProtocolError, OSError) as error:
        raise _transport_error(requests.ConnectionError(error), "the image body") from None


def _is_rejection(*texts: str) -> bool:
    return any(marker in " ".join(texts).lower() for marker in _REJECTION_MARKERS)


def _rejection(text: str) -> ProviderError:
    """A content-policy refusal: the same request will be refused again, so never retried."""
    return ProviderError(text, code="moderation_blocked", permanent=True)


def _stream_error(data: object) -> ProviderError:
    """An `error` event in the middle of a stream (OpenAI sends it instead of the completed image)."""
    error = data.get("error") if isinstance(data, dict) else None
    error = error if isinstance(error, dict) else {}
    message, code, kind = (str(error.get(key) or "") for key in ("message", "code", "type"))
    text = f"OpenAI stream error {code or kind}: {message}"
    if _is_rejection(code, kind, message):
        return _rejection(text)
    if kind == "invalid_request_error":
        return ProviderError(text, code="provider_bad_request", permanent=True)
    return ProviderError(text, code="provider_unavailable", permanent=False)


def _status_error(response: requests.Response) -> ProviderError:
    status = response.status_code
    try:
        error = response.json()["error"]
        message, code, kind = (str(error.get(key) or "") for key in ("message", "code", "type"))
    except (ValueError, KeyError, TypeError, AttributeError):
        message, code, kind = response.text[:500], "", ""
    text = f"OpenAI {status}: {message}"
    if status == 400 and _is_rejection(code, kind, message):
        return _rejection(text)
    if status in (401, 403):
        return ProviderError(text, code="provider_auth", permanent=True)
    if status == 429:
        return ProviderError(text, code="provider_rate_limited", permanent=False)
    if status >= 500 or status in (408, 409):
        return ProviderError(text, code="provider_unavailable", permanent=False)
    if 400 <= status < 500:
        return ProviderError(text, code="provider_bad_request", permanent=True)
    return ProviderError(text, code="invalid_output", permanent=False)


class OpenAIProvider(ImageProvider):
    name = "openai"
    streams = True

    # At most this many extra tries, after the matching pause; only for requests OpenAI never ran.
    max_retries = 2
    backoff_seconds = (0.5, 1.0)
    # A 429's Retry-After is honoured up to this; longer waits belong to the caller.
    retry_after_cap_seconds = 4.0

    def generate(self, request: ProviderRequest, *, on_partial: PartialCallback | None = None) -> ProviderResult:
        streaming = on_partial is not None
        response = self._send(request, stream=streaming)
        try:
            if response.status_code != 200:
                raise _status_error(response)
            if streaming and response.headers.get("content-type", "").startswith("text/event-stream"):
                return self._read_stream(request, response, on_partial)
            return self._read_json(request, response)
        finally:
            response.close()

    def _read_json(self, request: ProviderRequest, response: requests.Response) -> ProviderResult:
        body_bytes = _read_body(response)
        try:
            body = json_body.loads(body_bytes)  # b64_json values stay in body_bytes
            entries = body["data"]
            if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
                raise TypeError("data is not a list of objects")
        except (ValueError, KeyError, TypeError) as error:
            raise ProviderError(
                f"OpenAI 200 with a malformed body ({error}): {body_bytes[:200]!r}",
                code="invalid_output",
                permanent=False,
            ) from None
        timeout = (settings.PROVIDER_CONNECT_TIMEOUT_SECONDS, request.timeout_seconds)
        images = [self._image_bytes(entry, timeout) for entry in entries]
        return _result(images, body, TokenUsage.from_openai(body.get("usage")), response)

    def _read_stream(
        self, request: ProviderRequest, response: requests.Response, on_partial: Callable[[PartialImage], None]
    ) -> ProviderResult:
        """Relay partial images as they arrive; the completed events carry the images and their usage."""
        deadline = time.monotonic() + request.timeout_seconds
        images: list[bytes] = []
        usage: TokenUsage | None = None
        last: dict = {}
        try:
            for event in iter_events(response.iter_content(chunk_size=None)):
                try:
                    data = event.json()
                except ValueError:
                    raise ProviderError(
                        f"OpenAI stream event {event.event!r} is not JSON: {event.data[:200]!r}",
                        code="invalid_output",
                        permanent=False,
                    ) from None
                kind = str(data.get("type") or event.event) if isinstance(data, dict) else event.event
                if kind == "error" or (isinstance(data, dict) and "error" in data):
                    raise _stream_error(data)
                if kind.endswith(".partial_image"):
                    content = self._image_bytes(data, timeout=None)
                    on_partial(
                        PartialImage(content=content, partial_image_index=int(data.get("partial_image_index", 0)))
                    )
                elif kind.endswith(".completed"):
                    images.append(self._image_bytes(data, timeout=None))
                    event_usage = TokenUsage.from_openai(data.get("usage"))
                    if event_usage is not None:
                        usage = event_usage if usage is None else usage + event_usage
                    last = data
                if len(images) >= request.n or time.monotonic() > deadline:
                    break
        except requests.RequestException as error:
            raise _transport_error(error, "the image stream") from None
        if not images:
            raise ProviderError(
                "OpenAI's image stream ended without a completed image.", code="provider_unavailable", permanent=False
            )
        return _result(images, last, usage, response)

    def _send(self, request: ProviderRequest, *, stream: bool = False) -> requests.Response:
        base_url = settings.OPENAI_BASE_URL.rstrip("/")
        headers = {"Authorization": f"Bearer {settings.OPENAI_API_KEY}"}
        if settings.OPENAI_ORGANIZATION:
            headers["OpenAI-Organization"] = settings.OPENAI_ORGANIZATION
        fields: dict[str, str | int | bool] = {
            "model": request.provider_model,
            "prompt": request.prompt,
            "n": request.n,
            "size": request.size,
            "quality": request.quality,
        }
        for name in _OPTIONAL_FIELDS:
            if getattr(request, name) is not None:
                fields[name] = getattr(request, name)
        if request.user_ref:
            fields["user"] = request.user_ref
        if stream:
            fields["stream"] = True
            fields["partial_images"] = request.partial_images
        if request.reference_images:
            url = f"{base_url}/images/edits"
            if request.input_fidelity is not None:
                fields["input_fidelity"] = request.input_fidelity
            files = [
                ("image[]", (reference.filename, reference.content, reference.content_type))
                for reference in request.reference_images
            ]
            if request.mask is not None:
                files.append(("mask", (request.mask.filename, request.mask.content, request.mask.content_type)))
            form = {key: _form_value(value) for key, value in fields.items()}
            body = {"data": form, "files": files}
        else:
            url = f"{base_url}/images/generations"
            body = {"json": fields}
        timeout = (settings.PROVIDER_CONNECT_TIMEOUT_SECONDS, request.timeout_seconds)

        for attempt in range(self.max_retries + 1):
            retries_left = attempt < self.max_retries
            try:
                response = _session.post(
                    # Always a deferred body: JSON answers are read in one piece (_read_body).
                    url, headers=headers, timeout=timeout, allow_redirects=False, stream=True, **body
                )
            except requests.ConnectionError as error:
                if retries_left and _never_sent(error):
                    time.sleep(self._backoff(attempt))
                    continue
                raise _transport_error(error, "the image request") from None
            except requests.RequestException as error:
                raise _transport_error(error, "the image request") from None
            if response.status_code == 429 and retries_left:
                response.close()
                time.sleep(self._rate_limit_pause(response, attempt))
                continue
            return response
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _backoff(self, attempt: int) -> float:
        return self.backoff_seconds[min(attempt, len(self.backoff_seconds) - 1)]

    def _rate_limit_pause(self, response: requests.Response, attempt: int) -> float:
        for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
            try:
                seconds = float(response.headers[header]) * scale
            except (KeyError, ValueError):
                continue  # absent, or an HTTP date: fall back to our own backoff
            return max(0.0, min(seconds, self.retry_after_cap_seconds))
        return self._backoff(attempt)

    def _image_bytes(self, entry: dict, timeout: tuple[float, float] | None) -> bytes:
        if isinstance(entry.get("b64_json"), str | memoryview):
            try:
                # Strict (no padding or alphabet slack), and SIMD: ~50x faster than binascii on
                # megabytes of base64 (bench/RESULTS.md).
                return pybase64.b64decode(entry["b64_json"], validate=True)
            except (binascii.Error, ValueError) as error:
                raise ProviderError(
                    f"OpenAI 200 with invalid base64 image data: {error}", code="invalid_output", permanent=True
                ) from None
        if timeout and isinstance(entry.get("url"), str) and entry["url"].startswith(("https://", "http://")):
            # A pre-signed URL on another host: fetched without our Authorization header.
            try:
                response = _session.get(entry["url"], timeout=timeout)
            except requests.RequestException as error:
                raise _transport_error(error, "an image download") from None
            if response.status_code != 200:
                raise ProviderError(
                    f"OpenAI image download answered {response.status_code}", code="invalid_output", permanent=False
                )
            return response.content
        raise ProviderError(
            f"OpenAI 200 with an image entry that has neither b64_json nor url: {sorted(entry)}",
            code="invalid_output",
            permanent=False,
        )


def _form_value(value: str | int | bool) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _result(images: list[bytes], body: dict, usage: TokenUsage | None, response: requests.Response) -> ProviderResult:
    """The images plus what OpenAI says it used (size, quality, background, format: never `auto`)."""

    def reported(name: str) -> str:
        value = body.get(name) if isinstance(body, dict) else None
        return value if isinstance(value, str) and value != "auto" else ""

    return ProviderResult(
        images=images,
        provider_request_id=response.headers.get("x-request-id", ""),
        usage=usage,
        size=reported("size"),
        quality=reported("quality"),
        background=reported("background"),
        output_format=reported("output_format"),
    )
