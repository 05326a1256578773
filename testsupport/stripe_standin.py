"""A local stand-in for the parts of Stripe's API the hub uses: real HTTP on 127.0.0.1.

The official `stripe` package talks to it unchanged once STRIPE_API_BASE points here:

- `POST /v1/checkout/sessions` (form-encoded, Stripe's `a[b][0][c]=…` nesting; an
  Idempotency-Key returns the first answer again), `GET /v1/checkout/sessions/<id>`;
- a bearer secret key is required, and errors use Stripe's `{"error": {"type", "message"}}`;
- `GET /pay/<id>`: a stand-in for Stripe's hosted page, for a person trying the flow by
  hand; its "Pay" button marks the session paid and returns to the session's success_url.

Test helpers play Stripe's side of a payment: `pay(session_id)` marks a session paid (as
the buyer finishing Checkout), `refund(session_id)` refunds its charge, and `event(...)`
plus `sign(...)` make a webhook delivery signed exactly as Stripe signs them
(`Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`).
"""

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from html import escape
from http import HTTPStatus
from socketserver import ThreadingMixIn
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

DEFAULT_SECRET_KEY = "sk_test_standin"  # noqa: S105 (the stand-in's own test key)
DEFAULT_WEBHOOK_SECRET = "whsec_standin"  # noqa: S105
API_VERSION = "2025-01-27.acacia"
_SESSION_PATH = re.compile(r"^/v1/checkout/sessions/([A-Za-z0-9_]+)$")
_PAY_PATH = re.compile(r"^/pay/([A-Za-z0-9_]+)$")
_KEY_PART = re.compile(r"\[([^\]]*)\]")


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe sends with `payload` (the exact body bytes, as text)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


def decode_form(body: str) -> dict:
    """Stripe's form encoding (`line_items[0][price_data][currency]=usd`) as nested dicts and lists."""
    root: dict = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        head = key.split("[", 1)[0]
        parts = [head, *_KEY_PART.findall(key[len(head) :])]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node):
    """Dicts whose keys are 0..n-1 become lists (Stripe's arrays)."""
    if not isinstance(node, dict):
        return node
    node = {key: _lists(value) for key, value in node.items()}
    if node and all(key.isdigit() for key in node) and sorted(map(int, node)) == list(range(len(node))):
        return [node[str(index)] for index in range(len(node))]
    return node


class StripeStandin:
    """The WSGI app and its in-process server; a test reads `sessions` and `requests` directly."""

    def __init__(self, secret_key: str = DEFAULT_SECRET_KEY, port: int = 0):
        self.secret_key = secret_key
        self.port = port
        self.sessions: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.fail_next: int = 0  # answer this many API calls with a 500 (Stripe down)
        self._idempotent: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    # Server ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "StripeStandin":
        self._server = _ThreadingWSGIServer(("127.0.0.1", self.port), _QuietHandler)
        self._server.set_app(self)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="stripe-standin",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "StripeStandin":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def reset(self) -> None:
        with self._lock:
            self.sessions.clear()
            self.requests.clear()
            self._idempotent.clear()
            self.fail_next = 0

    # Stripe's side of a payment -----------------------------------------------------

    def pay(self, session_id: str, *, payment_status: str = "paid") -> dict:
        """The buyer finished Checkout: the session is complete and (by default) paid."""
        with self._lock:
            session = self.sessions[session_id]
            session.update(status="complete", payment_status=payment_status)
            session["payment_intent"] = session["payment_intent"] or f"pi_{secrets.token_hex(12)}"
            return json.loads(json.dumps(session))

    def refund(self, session_id: str) -> dict:
        """Refund the session's payment in full: the `charge` object of a charge.refunded event."""
        with self._lock:
            session = self.sessions[session_id]
            amount = session["amount_total"]
            return {
                "id": f"ch_{secrets.token_hex(12)}",
                "object": "charge",
                "amount": amount,
                "amount_refunded": amount,
                "currency": session["currency"],
                "paid": True,
                "refunded": True,
                "payment_intent": session["payment_intent"],
                "metadata": dict((session.get("payment_intent_data") or {}).get("metadata") or {}),
            }

    @staticmethod
    def event(event_type: str, obj: dict, *, event_id: str | None = None) -> str:
        """A webhook body as Stripe sends it (the JSON text that is signed)."""
        return json.dumps(
            {
                "id": event_id or f"evt_{secrets.token_hex(12)}",
                "object": "event",
                "api_version": API_VERSION,
                "created": int(time.time()),
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "type": event_type,
                "data": {"object": obj},
            }
        )

    # HTTP ---------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length).decode() if length else ""
        pay = _PAY_PATH.match(path)
        if pay:
            return self._hosted_page(pay.group(1), method, start_response)
        with self._lock:
            self.requests.append({"method": method, "path": path, "body": body,
                                  "authorization": environ.get("HTTP_AUTHORIZATION", ""),
                                  "idempotency_key": environ.get("HTTP_IDEMPOTENCY_KEY", "")})
            if self.fail_next > 0:
                self.fail_next -= 1
                return _json(start_response, 500, _error("api_error", "The stand-in is down."))
        if environ.get("HTTP_AUTHORIZATION", "") != f"Bearer {self.secret_key}":
            return _json(start_response, 401, _error("invalid_request_error", "Invalid API Key provided."))
        if path == "/v1/checkout/sessions" and method == "POST":
            return self._create_session(decode_form(body), environ.get("HTTP_IDEMPOTENCY_KEY"), start_response)
        match = _SESSION_PATH.match(path)
        if match and method == "GET":
            with self._lock:
                session = self.sessions.get(match.group(1))
            if session is None:
                return _json(start_response, 404, _error("invalid_request_error", "No such checkout.session"))
            return _json(start_response, 200, session)
        return _json(start_response, 404, _error("invalid_request_error", f"Unrecognized request URL ({path})."))

    def _create_session(self, params: dict, idempotency_key: str | None, start_response):
        with self._lock:
            if idempotency_key and idempotency_key in self._idempotent:
                return _json(start_response, 200, self._idempotent[idempotency_key])
        items = params.get("line_items") or []
        try:
            amount = sum(int(item["price_data"]["unit_amount"]) * int(item.get("quantity", 1)) for item in items)
            currency = items[0]["price_data"]["currency"]
        except (KeyError, IndexError, TypeError, ValueError):
            return _json(start_response, 400, _error("invalid_request_error", "line_items need price_data."))
        session_id = f"cs_test_{secrets.token_hex(16)}"
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": params.get("mode", "payment"),
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": amount,
            "currency": currency,
            "client_reference_id": params.get("client_reference_id"),
            "customer_email": params.get("customer_email"),
            "metadata": params.get("metadata") or {},
            "payment_intent_data": params.get("payment_intent_data") or {},
            "payment_intent": None,
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "url": f"{self.base_url}/pay/{session_id}",
            "livemode": False,
            "created": int(time.time()),
        }
        with self._lock:
            self.sessions[session_id] = session
            if idempotency_key:
                self._idempotent[idempotency_key] = session
        return _json(start_response, 200, session)

    def _hosted_page(self, session_id: str, method: str, start_response):
        session = self.sessions.get(session_id)
        if session is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"No such session"]
        if method == "POST":
            self.pay(session_id)
            target = (session["success_url"] or "/").replace("{CHECKOUT_SESSION_ID}", session_id)
            start_response("303 See Other", [("Location", target)])
            return [b""]
        html = (
            "<!doctype html><title>Stripe stand-in checkout</title><h1>Stripe stand-in</h1>"
            f"<p>Pay {session['amount_total']} {escape(session['currency'])} (smallest unit)</p>"
            "<form method=post><button>Pay</button></form>"
            f"<a href=\"{escape(session['cancel_url'] or '/')}\">Cancel</a>"
        )
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [html.encode()]


def _error(kind: str, message: str) -> dict:
    return {"error": {"type": kind, "message": message}}


def _json(start_response, status: int, payload: dict):
    body = json.dumps(payload).encode()
    start_response(f"{status} {HTTPStatus(status).phrase}", [("Content-Type", "application/json"),
                                                             ("Content-Length", str(len(body))),
                                                             ("Request-Id", f"req_{secrets.token_hex(8)}")])
    return [body]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass
