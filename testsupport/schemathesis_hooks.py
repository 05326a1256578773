"""Schemathesis hooks for gih/tests/test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).

One check of our own on top of schemathesis' schema checks: every error answer of either face is the API's
JSON envelope, whatever its status (a documented status already has the envelope's schema; this also
catches an answer from outside the views, e.g. gunicorn's or the middleware's).
"""

import json

import schemathesis


@schemathesis.check
def error_envelope(ctx, response, case) -> None:
    if response.status_code < 400:
        return
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{response.status_code} answer is not JSON: {response.content[:200]!r}") from None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str) or not error.get("code"):
        raise AssertionError(f"{response.status_code} answer outside the envelope: {body!r}")
    if case.path.startswith("/v1/") and not {"type", "param"} <= set(error):
        raise AssertionError(f"/v1 error without OpenAI's type and param: {body!r}")
