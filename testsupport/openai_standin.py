"""A local stand-in for OpenAI's Images API: real HTTP on 127.0.0.1, real PNGs, scripted failures.

One WSGI app, two ways to serve it:

- in-process, for pytest: `OpenAIStandin().start()` serves from a thread per request
  (wsgiref), so a test can flip `set_mode(...)` and read `requests` directly;
- standalone, for benchmarks: `python -m testsupport.openai_standin --port 0 [--delay S] [--photo]`
  prints `PORT <n>` as its first line and serves with gevent's WSGIServer, a greenlet
  per request, so a thousand delayed answers in flight cost little. Delays call
  gevent.sleep there, so nothing is monkey-patched. `POST /_control` with JSON
  (`mode`, `count`, `delay`, `retry_after`, `photo`, `clear_requests`) changes the
  behaviour; `GET /_control` returns it with the recorded requests.

Images are cached per size, so the server spends its time answering, not encoding.
"""

import argparse
import base64
import email.parser
import email.policy
import hmac
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from testsupport import openai_standin_images as images
from testsupport.openai_standin_images import Answer as _Answer
from testsupport.openai_standin_images import error_body

DEFAULT_API_KEY = "sk-standin-test-key"
MODES = frozenset(
    {
        "ok",
        "fewer",  # answer with `count` images (at most n)
        "http_500",
        "moderation_400",
        "unauthorized_401",
        "rate_limited_429",  # with a Retry-After header when `retry_after` is set
        "not_image",  # valid base64 of bytes that are no image
        "bad_base64",
        "bad_json",
        "url",  # `url` entries pointing at GET /_files/<W>x<H>.png instead of b64_json
        "drop_mid_body",  # a 200 whose JSON body stops halfway (Content-Length promised the whole)
        "stall_mid_body",  # a 200 that sends half its body, then waits `delay` seconds before the rest
        # Streamed requests only (JSON ones answer "ok"): after the partial images,
        "stream_error",  # an `error` event (server_error) instead of the completed ones
        "stream_moderation",  # an `error` event (moderation_blocked): the output was refused
        "stream_truncated",  # the stream just ends
    }
)
STREAM_FAILURES = {"stream_error": "error", "stream_moderation": "moderation", "stream_truncated": "truncated"}


@dataclass(frozen=True)
class Behaviour:
    mode: str = "ok"
    count: int = 1
    delay: float = 0.0  # seconds slept after the request was read and recorded, before answering
    retry_after: float | None = None


@dataclass(frozen=True)
class RecordedFile:
    name: str
    filename: str
    content_type: str
    size: int


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    json: dict | None = None
    fields: dict[str, str] = field(default_factory=dict)
    files: list[RecordedFile] = field(default_factory=list)


# --- Request parsing -----------------------------------------------------


def _headers(environ: dict) -> dict[str, str]:
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers


def _read_body(environ: dict) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], list[tuple[RecordedFile, bytes]]]:
    """multipart/form-data through the stdlib MIME parser (binary-safe with BytesParser)."""
    if not content_type.startswith("multipart/form-data") or "boundary=" not in content_type:
        raise _Answer(400, "Expected a multipart/form-data body with a boundary.")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise _Answer(400, "Could not parse the multipart body.")
    fields: dict[str, str] = {}
    files: list[tuple[RecordedFile, bytes]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is None:
            try:
                fields[str(name)] = payload.decode("utf-8")
            except UnicodeDecodeError:
                raise _Answer(400, f"Field {name!r} is not UTF-8 text.") from None
        else:
            files.append((RecordedFile(str(name), filename, part.get_content_type(), len(payload)), payload))
    return fields, files


# --- The app -------------------------------------------------------------


class OpenAIStandin:
    """The WSGI app plus its in-process server. `sleep` is time.sleep, or gevent.sleep under gevent."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        photo: bool = False,
        delay: float = 0.0,
        port: int = 0,
        sleep: Callable[[float], object] = time.sleep,
    ):
        self.api_key = api_key
        self.photo = photo
        # The `usage` object JSON answers report; None: the stand-in's own count (providers/usage.py).
        # Set by tests that must tell the provider's report from the hub's fallback estimate.
        self.usage: dict | None = None
        self.port = port
        self.behaviour = Behaviour(delay=delay)
        self._sleep = sleep
        self._records: deque[RecordedRequest] = deque(maxlen=10_000)
        self._records_lock = threading.Lock()
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    # Control ---------------------------------------------------------------

    def set_mode(
        self, mode: str = "ok", *, count: int = 1, delay: float = 0.0, retry_after: float | None = None
    ) -> None:
        """Replace the whole behaviour at once (one assignment, so no request sees half of it)."""
        if mode not in MODES:
            raise ValueError(f"Unknown mode {mode!r}; choose from {sorted(MODES)}.")
        self.behaviour = Behaviour(mode=mode, count=int(count), delay=float(delay), retry_after=retry_after)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._records_lock:
            return list(self._records)

    def clear_requests(self) -> None:
        with self._records_lock:
            self._records.clear()

    def reset(self) -> None:
        self.set_mode("ok")
        self.usage = None
        self.clear_requests()

    # In-process server -----------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "OpenAIStandin":
        self._server = _ThreadingWSGIServer(("127.0.0.1", self.port), _QuietHandler)
        self._server.set_app(self)
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="openai-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None

    def __enter__(self) -> "OpenAIStandin":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # WSGI ------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ["REQUEST_METHOD"]
        extra_headers: list[tuple[str, str]] = []
        try:
            if path == "/_control":
                status, content_type, body = self._control(method, environ)
            else:
                status, content_type, body, extra_headers = self._api(method, path, environ)
        except _Answer as answer:
            status, content_type = answer.status, "application/json"
            body = error_body(answer)
            extra_headers = answer.headers
        headers = [("Content-Type", content_type), ("x-request-id", f"req_{uuid.uuid4().hex}"), *extra_headers]
        if isinstance(body, bytes):
            headers.append(("Content-Length", str(len(body))))
            body = [body]
        else:  # an event stream: sent as it is produced, ended by closing the connection
            headers.append(("Cache-Control", "no-cache"))
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return body

    def _control(self, method: str, environ: dict) -> tuple[int, str, bytes]:
        if method == "POST":
            try:
                options = dict(json.loads(_read_body(environ) or b"{}"))
            except (TypeError, ValueError):
                raise _Answer(400, "Send a JSON object.") from None
            if "photo" in options:
                self.photo = bool(options.pop("photo"))
            if options.pop("clear_requests", False):
                self.clear_requests()
            if options:
                try:
                    self.set_mode(**options)
                except (TypeError, ValueError) as error:
                    raise _Answer(400, str(error)) from None
        state = {
            "behaviour": asdict(self.behaviour),
            "photo": self.photo,
            "requests": [asdict(record) for record in self.requests],
        }
        return 200, "application/json", json.dumps(state).encode()

    def _api(
        self, method: str, path: str, environ: dict
    ) -> tuple[int, str, bytes | Iterator[bytes], list[tuple[str, str]]]:
        behaviour = self.behaviour
        images: list[bytes] | None = None  # the uploads of an edit
        mask: bytes | None = None
        record = RecordedRequest(method=method, path=path, headers=_headers(environ))
        body = _read_body(environ)
        try:
            if (method, path) == ("POST", "/v1/images/generations"):
                try:
                    record.json = json.loads(body)
                except ValueError:
                    raise _Answer(400, "We could not parse the JSON body of your request.") from None
                if not isinstance(record.json, dict):
                    raise _Answer(400, "The request body must be a JSON object.")
                params = record.json
            elif (method, path) == ("POST", "/v1/images/edits"):
                record.fields, files = _parse_multipart(environ.get("CONTENT_TYPE", ""), body)
                record.files = [recorded for recorded, _ in files]
                params = record.fields
                images = [content for recorded, content in files if recorded.name in ("image", "image[]")]
                mask = next((content for recorded, content in files if recorded.name == "mask"), None)
            elif method == "GET" and path.startswith("/_files/"):
                return self._file(path)
            elif (method, path) == ("GET", "/v1/models"):
                params = None
            else:
                raise _Answer(404, f"Invalid URL ({method} {path})", code="unknown_url")
        finally:
            with self._records_lock:
                self._records.append(record)

        streamed = isinstance(params, dict) and params.get("stream") in (True, "true")
        # A stream spreads the delay over its events; a stalled body spends it halfway through.
        if behaviour.delay > 0 and not streamed and behaviour.mode != "stall_mid_body":
            self._sleep(behaviour.delay)
        authorization = record.headers.get("authorization", "")
        if behaviour.mode == "unauthorized_401" or not hmac.compare_digest(
            authorization.encode(), f"Bearer {self.api_key}".encode()
        ):
            raise _Answer(401, "Incorrect API key provided.", code="invalid_api_key")
        if params is None:
            models = {"object": "list", "data": [{"id": "gpt-image-2", "object": "model", "owned_by": "openai"}]}
            return 200, "application/json", json.dumps(models).encode(), []
        return self._images(behaviour, params, edit_images=images, mask=mask, environ=environ)

    def _images(
        self, behaviour: Behaviour, params: dict, *, edit_images: list[bytes] | None, mask: bytes | None, environ: dict
    ) -> tuple[int, str, bytes | Iterator[bytes], list[tuple[str, str]]]:
        mode = behaviour.mode
        if mode == "http_500":
            raise _Answer(500, "The server had an error while processing your request.", kind="server_error")
        if mode == "rate_limited_429":
            retry_after = [] if behaviour.retry_after is None else [("Retry-After", f"{behaviour.retry_after:g}")]
            raise _Answer(
                429,
                "Rate limit reached for images per minute.",
                kind="requests",
                code="rate_limit_exceeded",
                headers=retry_after,
            )
        if mode == "moderation_400":
            raise _Answer(
                400,
                "Your request was rejected as a result of our safety system.",
                kind="image_generation_user_error",
                code="moderation_blocked",
            )
        if mode == "bad_json":
            return 200, "application/json", b'{"created": 1700000000, "data": [{"b64_json": "iVBO', []

        request = images.parse_params(params, edit_images=edit_images, mask=mask)
        count = min(behaviour.count, request.n) if mode == "fewer" else request.n
        if request.stream:
            events = images.stream(
                request,
                count=count,
                photo=self.photo,
                failure=STREAM_FAILURES.get(mode, ""),
                sleep=self._sleep,
                pause=behaviour.delay / (request.partial_images + 1),
            )
            return 200, "text/event-stream", events, []
        if mode == "url":
            host = environ.get("HTTP_HOST", "127.0.0.1")
            entry = json.dumps({"url": f"http://{host}/_files/{request.size}.png"}).encode()
        elif mode == "not_image":
            entry = json.dumps({"b64_json": base64.b64encode(b"this is plain text, not an image").decode()}).encode()
        elif mode == "bad_base64":
            entry = b'{"b64_json": "%%% not base64 %%%"}'
        else:
            entry = images.image_for(request, self.photo).entry
        # Spliced, not json.dumps'ed: re-encoding megabytes of base64 per answer would make
        # the server, not the delay, the bottleneck of a benchmark.
        head = json.dumps(images.meta(request, count, usage=self.usage)).encode()[:-1]
        body = head + b', "data": [' + b", ".join([entry] * count) + b"]}"
        if mode in ("drop_mid_body", "stall_mid_body"):
            return 200, "application/json", self._cut(body, stall=mode == "stall_mid_body"), [
                ("Content-Length", str(len(body)))
            ]
        return 200, "application/json", body, []

    def _cut(self, body: bytes, *, stall: bool) -> Iterator[bytes]:
        """Half the body, then the connection closes (drop) or waits `delay` seconds before the rest (stall)."""
        yield body[: len(body) // 2]
        if stall:
            self._sleep(self.behaviour.delay)
            yield body[len(body) // 2 :]

    def _file(self, path: str) -> tuple[int, str, bytes, list[tuple[str, str]]]:
        width, height = images.parse_size(path.removeprefix("/_files/").removesuffix(".png"))
        return 200, "image/png", png_for(width, height, photo=self.photo), []


def png_for(width: int, height: int, *, photo: bool = False) -> bytes:
    return images.cached_image(width, height, photo).content


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False  # a delayed answer may still be sleeping when a test stops the server


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before answering")
    parser.add_argument("--photo", action="store_true", help="photo-like, poorly compressible PNGs")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    args = parser.parse_args(argv)

    import gevent
    from gevent.pywsgi import WSGIServer as GeventWSGIServer

    standin = OpenAIStandin(api_key=args.api_key, photo=args.photo, delay=args.delay, sleep=gevent.sleep)
    png_for(1024, 1024, photo=args.photo)  # warm the cache before the first burst
    server = GeventWSGIServer((args.host, args.port), standin, backlog=4096, log=None)
    server.init_socket()
    print(f"PORT {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
