"""PostgreSQL restarts while sync generations wait on the provider: no finished generation is lost.

A private PostgreSQL (testsupport/servers.py) under a real gunicorn (the Procfile's web
process, gevent). The database goes down while eight generations are in their provider
call and comes back after they finished it, so every final write first meets a dead
server: before the fix, 17 of 20 such clients got a bare 500 and the paid images were
thrown away, and later bursts still hit dead pooled connections. Asserted: every client
gets its images (or a refunded failure naming its generation), later requests all succeed,
the balance is exact, billing_audit is clean and the server logged no deadlock.
"""

import subprocess
import sys
import threading
import time

import psycopg
import pytest
import requests
from django.conf import settings

from generations.tests.factories import GENERATIONS_URL
from testsupport.faults import assert_no_deadlocks
from testsupport.servers import LiveGunicorn, PrivatePostgres

IN_FLIGHT = 8
PROVIDER_DELAY = 4
EMAIL = "restart@example.com"


def manage(env: dict[str, str], *args: str) -> str:
    command = [sys.executable, "manage.py", *args]
    result = subprocess.run(command, cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


@pytest.fixture
def stack(tmp_path, worker_env):
    with PrivatePostgres() as postgres:
        with psycopg.connect(postgres.url(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE gih")
        env = {
            **worker_env,
            "DATABASE_URL": postgres.url("gih"),
            "IMAGE_PROVIDER": "local",
            "LOCAL_PROVIDER_DELAY_SECONDS": str(PROVIDER_DELAY),
            # No beat during the outage: a heartbeat would meet (and discard) the dead pooled
            # connections first, so the final writes must get past them on their own.
            "GENERATION_HEARTBEAT_SECONDS": "20",
            "GENERATION_HEARTBEAT_STALE_SECONDS": "60",
            "DB_POOL_MAX_SIZE": "10",
            "DB_POOL_TIMEOUT": "20",
            "MEDIA_ROOT": str(tmp_path / "media"),
        }
        manage(env, "migrate", "--noinput", "-v0")
        manage(env, "create_user", EMAIL, "--password", "pw-Restart-123")
        manage(env, "create_user", "ops@example.com", "--password", "pw-Restart-123", "--staff")
        manage(env, "grant_credits", EMAIL, "100", "--actor", "ops@example.com")
        key = manage(env, "create_api_key", EMAIL).splitlines()[-1]
        with LiveGunicorn(env, tmp_path / "gunicorn.log") as web:
            yield postgres, web, {"Authorization": f"Bearer {key}"}, env


def running_count(postgres: PrivatePostgres) -> int:
    with psycopg.connect(postgres.url("gih")) as conn:
        return conn.execute("SELECT count(*) FROM generations_generation WHERE status = 'running'").fetchone()[0]


def test_a_postgres_restart_loses_no_finished_generation(stack):
    postgres, web, auth, env = stack
    body = {"model": "gpt-image-2", "prompt": "a restart", "aspect_ratio": "1:1", "quality": "1K"}
    answers: list = [None] * IN_FLIGHT

    def client(index: int) -> None:
        try:
            answers[index] = requests.post(web.url + GENERATIONS_URL, json=body, headers=auth, timeout=180)
        except requests.RequestException as error:
            answers[index] = error

    threads = [threading.Thread(target=client, args=(index,)) for index in range(IN_FLIGHT)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120
    while running_count(postgres) < IN_FLIGHT:
        assert time.monotonic() < deadline, "the generations never all started"
        time.sleep(0.1)

    postgres.stop()  # every pooled connection dies; the provider calls go on
    time.sleep(PROVIDER_DELAY + 1)  # they finish while the server is down: each final write meets it down
    postgres.start()
    for thread in threads:
        thread.join(timeout=180)

    charged = 0
    for answer in answers:
        assert isinstance(answer, requests.Response), answer
        payload = answer.json()
        if answer.status_code == 200:
            assert payload["status"] == "succeeded" and payload["images"], payload
            charged += payload["usage"]["credits"]
        else:  # a refunded failure that names its generation; never a bare 500
            assert answer.status_code == 500 and payload["error"]["code"] == "generationFailed", payload
            assert "gen_" in payload["error"]["message"], payload
    assert sum(answer.status_code == 200 for answer in answers) == IN_FLIGHT, [a.text[:200] for a in answers]

    # Later requests find no dead pooled connection.
    for _ in range(20):
        response = requests.get(web.url + "/api/v1/credits", headers=auth, timeout=60)
        assert response.status_code == 200, response.text
    assert response.json()["credits"] == 100 - charged

    manage(env, "billing_audit")
    assert "Internal Server Error" not in web.log()
    assert_no_deadlocks(postgres.log_text())
