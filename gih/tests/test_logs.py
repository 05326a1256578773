"""Request ids and JSON log lines: taken or made, echoed, bound to every line, never leaking a secret."""

import json
import logging

import pytest

from gih.logs import request_id_from


def request_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["event"] == "request"]


def test_it_keeps_a_well_formed_request_id_and_replaces_others():
    assert request_id_from("4bf92f35-77b3-4da6-a3ce-929d0e0e4736") == "4bf92f35-77b3-4da6-a3ce-929d0e0e4736"
    for hostile in ("", "a b", "x" * 129, 'id"\n{"level":"error"}', "ünïcode"):
        made = request_id_from(hostile)
        assert made != hostile and len(made) == 32


@pytest.mark.django_db
def test_it_echoes_the_callers_request_id_on_success_and_on_errors(api, anon_api):
    for client, path in ((api, "/api/v1/credits"), (anon_api, "/api/v1/credits"), (api, "/api/v1/nowhere")):
        response = client.get(path, HTTP_X_REQUEST_ID="req-123")
        assert response["X-Request-ID"] == "req-123", path


@pytest.mark.django_db
def test_it_makes_a_request_id_when_the_callers_is_missing_or_invalid(client):
    first = client.get("/login/")["X-Request-ID"]
    second = client.get("/login/", HTTP_X_REQUEST_ID="bad id\r\n")["X-Request-ID"]
    assert len(first) == len(second) == 32 and first != second


@pytest.mark.django_db
def test_the_request_line_names_the_request_id_user_and_key_prefix(api, user, issued_key, json_log_lines):
    api.get("/api/v1/credits", HTTP_X_REQUEST_ID="req-credits")

    (line,) = request_lines(json_log_lines())
    assert line["request_id"] == "req-credits"
    assert (line["user_id"], line["key_prefix"]) == (user.pk, issued_key.api_key.prefix)
    assert (line["method"], line["path"], line["status"], line["level"]) == ("GET", "/api/v1/credits", 200, "info")
    assert line["timestamp"].endswith("Z")


def test_a_raw_key_in_a_message_is_cut_to_its_prefix_and_secret_fields_are_redacted(json_log_lines):
    raw_key = "gih_live_" + "A" * 8 + "s" * 24
    logging.getLogger("gih.test").warning("Rejected %s", raw_key, extra={"prompt": "private words"})

    (line,) = json_log_lines()
    assert line["event"] == "Rejected gih_live_AAAAAAAA…"
    assert line["prompt"] == "[redacted]"


@pytest.mark.django_db
def test_probes_are_not_logged_per_hit_at_info(client, json_log_lines):
    client.get("/healthz")
    client.get("/login/")

    assert [line["path"] for line in request_lines(json_log_lines())] == ["/login/"]


@pytest.mark.django_db
def test_a_password_reset_link_is_logged_by_its_route_not_its_token(client, json_log_lines):
    client.get("/password-reset/MQ/abc-0123456789abcdef/")

    (line,) = request_lines(json_log_lines())
    assert "0123456789abcdef" not in json.dumps(line)


@pytest.mark.django_db
def test_django_s_own_warning_lines_carry_the_request_id_but_not_the_request_object(client, json_log_lines):
    client.get("/nowhere/at/all?token=s3cret", HTTP_X_REQUEST_ID="req-404")

    (warning,) = [line for line in json_log_lines() if line["logger"] == "django.request"]
    assert (warning["request_id"], warning["status_code"], warning["level"]) == ("req-404", 404, "warning")
    assert "s3cret" not in json.dumps(json_log_lines())
