"""Logs: one JSON object per line in production (LOG_FORMAT=json), readable lines for the demo (console).

structlog renders every record, our stdlib `logging` calls and the libraries' alike
(ProcessorFormatter), and adds what the current request or task bound in contextvars:
request_id, user_id, key_prefix, generation_id. gevent gives each greenlet its own
contextvars, so the requests (and Celery tasks) sharing one process never mix them.

The request id comes from the client or our proxy (`X-Request-ID`, kept only if it is a
plain token of at most 128 characters) or is made here; every response echoes it, the
generation stores it, and an async task carries it in its message headers (gih/celery.py).

Secrets and prompts are never logged above DEBUG: nothing here logs request bodies or
headers, and a raw API key that slips into a message is cut down to its public prefix.
"""

import logging
import re
import time
import uuid

import structlog
from django.core.exceptions import ImproperlyConfigured
from structlog.contextvars import bind_contextvars, clear_contextvars, get_contextvars

REQUEST_ID_HEADER = "X-Request-ID"
# Letters, digits and the punctuation of UUIDs, trace ids and base64: nothing that could forge a log line.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
# Paths polled every few seconds by probes and scrapers: logged at DEBUG, not once per hit at INFO.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# A raw key (gih_live_ or gih_test_ + 32 characters) keeps its marker and 8-character lookup prefix.
_RAW_KEY = re.compile(r"(gih_(?:live|test)_[A-Za-z0-9]{8})[A-Za-z0-9]{24}")
_SECRET_FIELDS = frozenset({"prompt", "authorization", "api_key", "raw_key", "password", "secret"})

logger = structlog.get_logger("gih.request")


def request_id_from(value: str | None) -> str:
    """The caller's request id if it is acceptable, else a new one."""
    if value and _REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def current_request_id() -> str:
    """The request id of the request or task running now ('' outside both)."""
    return get_contextvars().get("request_id", "")


def bind(**values: object) -> None:
    """Add fields to every log line of the current request or task (None values are skipped)."""
    bind_contextvars(**{name: value for name, value in values.items() if value is not None})


def start_context(**values: object) -> None:
    """Begin a request's or task's log context afresh."""
    clear_contextvars()
    bind(**values)


def _redact(logger, method_name: str, event_dict: dict) -> dict:
    """Drop secret fields above DEBUG and shorten any raw API key in the message.

    Django hands its request object to `django.request` records (extra `request`): its repr holds
    the query string, and the line already has the request id, so it is dropped.
    """
    event_dict.pop("request", None)
    if method_name != "debug":
        for name in _SECRET_FIELDS & event_dict.keys():
            event_dict[name] = "[redacted]"
    event = event_dict.get("event")
    if isinstance(event, str) and "gih_" in event:
        event_dict["event"] = _RAW_KEY.sub(r"\1…", event)
    return event_dict


def _shared_processors() -> list:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def logging_config(*, level: str, fmt: str) -> dict:
    """The LOGGING dict for settings, and structlog's own configuration (done once, here)."""
    if fmt not in {"json", "console"}:
        raise ImproperlyConfigured("LOG_FORMAT must be 'json' or 'console'.")
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            _redact,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    final = [structlog.processors.format_exc_info] if fmt == "json" else []
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {
                "()": structlog.stdlib.ProcessorFormatter,
                # Records from stdlib loggers (ours, Django's, Celery's) get the same fields.
                "foreign_pre_chain": [*_shared_processors(), structlog.stdlib.ExtraAdder(), _redact],
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    *final,
                    renderer,
                ],
            }
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structlog"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Replace Django's own console handler so each record is printed once.
            "django": {"handlers": ["console"], "level": level, "propagate": False},
            "django.db.backends": {"level": "WARNING"},
            "stripe": {"level": "WARNING"},  # it logs every request at INFO
            "health_check": {"level": "ERROR"},  # a traceback per failed probe; gih.health logs one line instead
        },
    }


def gunicorn_logconfig(*, fmt: str, access_log: bool) -> dict:
    """gunicorn's own lines (start-up, worker exits, errors) in the same format: its `logconfig_dict`.

    With LOG_FORMAT=console gunicorn keeps its plain format. Its access log stays at WARNING (off)
    unless WEB_ACCESS_LOG: our request line (RequestIdMiddleware) already says what it would.
    """
    if fmt != "json":
        return {}
    formatter = logging_config(level="INFO", fmt=fmt)["formatters"]["structlog"]
    stream = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "formatters": {"json": formatter},
        "handlers": {"console": stream, "error_console": stream},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
            "gunicorn.access": {
                "level": "INFO" if access_log else "WARNING",
                "handlers": ["console"],
                "propagate": False,
            },
        },
    }


class RequestIdMiddleware:
    """Take or make the request id, bind the log context, echo the id, log one line per request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        start_context(request_id=request_id)
        started = time.monotonic()
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        self._log(request, response.status_code, started)
        # The context stays bound: Django logs a 4xx/5xx ("Not Found: ...") after the middleware
        # returns. The next request on this greenlet or thread starts its own (start_context).
        return response

    def _log(self, request, status: int, started: float) -> None:
        user = getattr(request, "user", None)
        if "user_id" not in get_contextvars() and user is not None and user.is_authenticated:
            bind(user_id=user.pk)
        level = logging.DEBUG if request.path in QUIET_PATHS else logging.INFO
        match = request.resolver_match
        route = match.route if match else ""
        # No query string, and no path that holds a secret (a password-reset link's token): its route instead.
        path = route if "<token>" in route else request.path
        logger.log(
            level,
            "request",
            method=request.method,
            path=path,
            route=route,
            status=status,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )
