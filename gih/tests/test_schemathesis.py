"""Schemathesis over the OpenAPI document, against the web process as the Procfile runs it.

Every operation of both faces gets the docs' examples, schemathesis' coverage cases and fuzzed
valid and invalid inputs (~2,500 requests, derandomized: the same cases every run, ~1 minute), sent
to gunicorn's gevent workers over real HTTP with a real key. The run fails on any 5xx, any answer
whose status, content type or body the document does not describe, and any error outside the
envelope (testsupport/schemathesis_hooks.py); afterwards the books must balance.

The account has few credits, so most generations are refused (402) and the few that run use the
local renderer; async ones stay queued (no worker) on a private Redis, so nothing leaks into the
test run's broker.
"""

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from accounts.services import api_key_create
from generations.models import Generation
from testsupport.faults import assert_books_clean
from testsupport.schemathesis_hooks import error_envelope
from testsupport.servers import LiveGunicorn, PrivateRedis

ROOT = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = 150  # per operation and phase: ~2,500 requests in all
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "unsupported_method",  # any undocumented method answers 405 in the envelope
        "error_envelope",  # ours: testsupport/schemathesis_hooks.py
    )
)


def live_env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    from django.db import connection

    database = urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"])
    return {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "gih.settings",
        "DATABASE_URL": database.geturl(),
        "REDIS_URL": redis_url,
        "GIH_VAR_DIR": str(tmp_path / "var"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "IMAGE_PROVIDER": "local",
    }


@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(tmp_path, make_user):
    user = make_user(credits=40, account_type="PRO")
    raw_key = api_key_create(user=user, name="schemathesis").raw_key
    schemathesis = str(Path(sys.executable).parent / "st")

    with PrivateRedis() as redis, LiveGunicorn(live_env(tmp_path, redis.url()), tmp_path / "web.log", workers=2) as web:
        run = subprocess.run(
            [
                schemathesis,
                "run",
                f"{web.url}/api/v1/openapi.json",
                "--header",
                f"Authorization: Bearer {raw_key}",
                "--checks",
                CHECKS,
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                str(MAX_EXAMPLES),
                "--generation-deterministic",
                "--workers",
                "2",
                "--request-timeout",
                "60",
                "--no-color",
            ],
            # Run from tmp_path: schemathesis keeps a crash cache in its working folder.
            env={**os.environ, "SCHEMATHESIS_HOOKS": "testsupport.schemathesis_hooks", "PYTHONPATH": str(ROOT)},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        web_log = web.log()
    print(run.stdout[-700:])  # the summary: operations, phases, number of cases

    assert run.returncode == 0, run.stdout[-15000:] + run.stderr[-3000:] + web_log[-3000:]
    assert "Traceback" not in web_log, web_log[-5000:]
    assert_books_clean()
    statuses = Counter(Generation.objects.values_list("status", flat=True))
    print(statuses)
    assert statuses[Generation.Status.SUCCEEDED] > 0  # the success answers were checked too, not only errors


def test_the_envelope_check_refuses_an_error_outside_the_envelope():
    def answer(status: int, body: bytes) -> SimpleNamespace:
        return SimpleNamespace(status_code=status, content=body)

    api, openai = SimpleNamespace(path="/api/v1/credits"), SimpleNamespace(path="/v1/models")
    error_envelope(None, answer(200, b"<html>"), api)  # successes are the schema's business
    error_envelope(None, answer(404, b'{"error": {"message": "No.", "code": "notFound"}}'), api)
    for status, body, case in [
        (500, b"<h1>Server Error</h1>", api),
        (400, b'{"detail": "bad"}', api),
        (401, b'{"error": {"message": "No key."}}', api),
        (404, b'{"error": {"message": "No.", "code": "not_found"}}', openai),  # no type, no param
    ]:
        with pytest.raises(AssertionError):
            error_envelope(None, answer(status, body), case)
