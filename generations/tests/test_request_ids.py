"""A request's id follows its generation: the web log line, the stored row, the worker's log lines of its task."""

import json

import pytest
import requests

from accounts.services import api_key_create
from generations.attempts import generation_run
from generations.models import Generation
from generations.tests.conftest import ASYNC_BODY, wait_for_status, wait_until
from gih.logs import current_request_id, start_context
from testsupport.servers import LiveGunicorn

GENERATE = "/api/v1/images/generations"
SECRET_PROMPT = "a lighthouse painted from a confidential prompt"


def json_lines(text: str) -> list[dict]:
    """The JSON log lines of a process' output (gunicorn's own start-up lines are not ours)."""
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


@pytest.mark.django_db
def test_a_sync_generation_stores_its_request_id_and_logs_neither_key_nor_prompt(
    api, issued_key, json_log_lines, media_cleanup
):
    body = {"model": "gpt-image-2", "prompt": SECRET_PROMPT, "quality": "1K"}
    response = api.post(GENERATE, body, format="json", HTTP_X_REQUEST_ID="req-generate")

    assert response.status_code == 200, response.content
    generation = Generation.objects.get(pk=response.json()["id"])
    assert generation.request_id == "req-generate"
    (line,) = [line for line in json_log_lines() if line["event"] == "request"]
    assert (line["request_id"], line["generation_id"]) == ("req-generate", generation.pk)
    everything = json.dumps(json_log_lines())
    assert SECRET_PROMPT not in everything
    assert issued_key.raw_key not in everything


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("empty_queue", "generation_files_cleanup")
def test_an_async_generation_s_request_id_reaches_the_web_log_the_row_and_the_worker_log(
    user, worker_env, start_worker, tmp_path
):
    raw_key = api_key_create(user=user).raw_key
    env = {**worker_env, "LOG_FORMAT": "json"}
    worker = start_worker(pool="gevent", concurrency=2, LOG_FORMAT="json")
    with LiveGunicorn(env, tmp_path / "gunicorn.log") as web:
        response = requests.post(
            web.url + GENERATE,
            json={**ASYNC_BODY, "prompt": SECRET_PROMPT},
            headers={"Authorization": f"Bearer {raw_key}", "X-Request-ID": "trace-4bf92f35"},
            timeout=60,
        )
        assert response.status_code == 202, response.text
        assert response.headers["X-Request-ID"] == "trace-4bf92f35"
        generation_id = response.json()["id"]
        generation = wait_for_status(generation_id, Generation.Status.SUCCEEDED, timeout=60)
        web_log = web.log()

    assert generation.request_id == "trace-4bf92f35"
    assert any(line["event"].startswith("Booting worker") for line in json_lines(web_log))  # gunicorn's own, too
    (web_line,) = [line for line in json_lines(web_log) if line.get("request_id") == "trace-4bf92f35"]
    assert web_line["event"] == "request" and web_line["status"] == 202
    assert (web_line["generation_id"], web_line["user_id"]) == (generation_id, user.pk)
    task_lines = wait_until(
        lambda: [line for line in json_lines(worker.log()) if line.get("generation_id") == generation_id],
        timeout=30,
        what="the worker's log lines of the task",
    )
    assert {(line["request_id"], line["user_id"]) for line in task_lines} == {("trace-4bf92f35", user.pk)}
    assert SECRET_PROMPT not in web_log + worker.log()
    assert raw_key not in web_log + worker.log()


@pytest.mark.django_db
def test_a_run_started_outside_any_request_logs_under_the_submitting_request_s_id(api, media_cleanup):
    queued = api.post(GENERATE, {**ASYNC_BODY, "prompt": SECRET_PROMPT}, format="json", HTTP_X_REQUEST_ID="req-orphan")
    start_context()  # what a task re-queued by the recovery sweep starts with: no request id in its headers

    generation = generation_run(generation_id=queued.json()["id"])

    assert generation.status == Generation.Status.SUCCEEDED
    assert current_request_id() == "req-orphan"


@pytest.mark.django_db(transaction=True)
def test_gunicorn_s_access_log_is_written_when_web_access_log_turns_it_on(worker_env, tmp_path):
    env = {**worker_env, "LOG_FORMAT": "json", "WEB_ACCESS_LOG": "true"}
    with LiveGunicorn(env, tmp_path / "gunicorn.log") as web:
        assert requests.get(web.url + "/healthz", timeout=30).status_code == 200
        access = wait_until(
            lambda: [line for line in json_lines(web.log()) if '"GET /healthz' in line["event"]],
            timeout=10,
            what="gunicorn's access line",
        )
    assert len(access) == 1 and " 200 " in access[0]["event"]
