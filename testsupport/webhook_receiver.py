"""A real HTTP webhook receiver for the delivery tests: records every request, answers scripted codes.

It can also hold requests open (a slow receiver) until released.
"""

import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def for_standardwebhooks(self) -> dict[str, str]:
        return {name: self.headers[name] for name in ("webhook-id", "webhook-timestamp", "webhook-signature")}


class WebhookReceiver:
    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Received] = []
        self._codes: list[int] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._released.set()
        self.holding = threading.Event()  # set while a request is held open
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                if not receiver._released.is_set():
                    receiver.holding.set()
                    receiver._released.wait(timeout=120)
                with receiver._lock:
                    receiver.requests.append(Received(path=self.path, headers=headers, body=body))
                    code = receiver._codes.pop(0) if receiver._codes else 200
                self.send_response(code)
                if 300 <= code < 400:
                    self.send_header("Location", receiver.url + "/redirected")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._scheme = "https" if tls else "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self._server.server_port}/hooks/gih"

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._codes.clear()
        self.release()

    def answer(self, *codes: int) -> None:
        """Answer the next requests with these status codes (then 200)."""
        with self._lock:
            self._codes.extend(codes)

    def hold(self) -> None:
        """Keep the next requests open until release()."""
        self.holding.clear()
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def __enter__(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
