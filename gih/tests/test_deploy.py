"""A fresh host that follows only the README and the Procfile: release step, then the web process serves pages."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.utils import get_random_secret_key

SERVE = """
import json, os, re
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gih.settings")
import django
django.setup()
from django.test import Client
client = Client()
statuses = {path: client.get(path, secure=True).status_code for path in ("/", "/login/", "/signup/", "/docs/")}
page = client.get("/login/", secure=True).content.decode()
stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', page).group(1)
css = client.get(stylesheet, secure=True)
plain_api = client.post("/api/v1/images/generations", {}, content_type="application/json")
reference = client.get("/docs/reference/", secure=True).content.decode()
bundle = re.search(r'src="([^"]+swagger-ui-bundle[^"]*[.]js)"', reference).group(1)
print(json.dumps({
    "pages": statuses,
    "stylesheet": stylesheet,
    "stylesheet_status": css.status_code,
    "plain_api": [plain_api.status_code, plain_api.json()["error"]["code"], plain_api.get("Location")],
    "healthz": client.get("/healthz").status_code,
    "reference_bundle": [bundle, client.get(bundle, secure=True).status_code],
    "schema": client.get("/api/v1/openapi.json", secure=True).status_code,
    "beat_schedule": __import__("gih.celery").celery.app.conf.beat_schedule_filename,
}))
"""


def procfile() -> dict[str, str]:
    lines = (Path(settings.BASE_DIR) / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def fresh_host_env(tmp_path: Path) -> dict[str, str]:
    """What the README's Configuration table asks of production, on an empty host (SQLite, local broker)."""
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",  # `python` is the venv's
        "DEBUG": "false",
        "SECRET_KEY": get_random_secret_key(),
        "ALLOWED_HOSTS": "testserver",
        "GIH_VAR_DIR": str(tmp_path / "var"),
        "STATIC_ROOT": str(tmp_path / "static"),
    }


def test_it_serves_the_account_pages_after_the_documented_release_step(tmp_path):
    env = fresh_host_env(tmp_path)
    release = subprocess.run(
        ["bash", "-c", procfile()["release"]], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )
    assert release.returncode == 0, release.stdout + release.stderr

    served = subprocess.run(
        [sys.executable, "-c", SERVE], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )
    assert served.returncode == 0, served.stderr
    result = json.loads(served.stdout.strip().splitlines()[-1])

    assert result["pages"] == {"/": 200, "/login/": 200, "/signup/": 200, "/docs/": 200}
    assert re.fullmatch(r"/static/css/\S+\.[0-9a-f]{12}\.css", result["stylesheet"])  # hashed: collected
    assert result["stylesheet_status"] == 200
    assert result["plain_api"] == [403, "https_required", None]
    assert result["healthz"] == 200
    bundle, bundle_status = result["reference_bundle"]  # the API reference's Swagger UI, collected and hashed
    assert re.fullmatch(r"/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle\.[0-9a-f]{12}\.js", bundle)
    assert bundle_status == 200
    assert result["schema"] == 200
    assert result["beat_schedule"] == str(tmp_path / "var" / "celerybeat-schedule")


def test_its_procfile_keeps_no_state_in_a_shared_tmp_folder():
    processes = procfile()

    assert set(processes) == {"release", "web", "worker", "webhooks", "beat"}
    assert "/tmp" not in "".join(processes.values())
    # Webhook deliveries have their own process: a slow receiver never takes a generation's slot.
    assert "--queues webhooks" in processes["webhooks"]
    assert "--queues" not in processes["worker"]
    assert "collectstatic" in processes["release"]
    assert "migrate" in processes["release"]


def test_it_keeps_the_beat_schedule_in_the_configured_var_dir(tmp_path):
    env = {**fresh_host_env(tmp_path), "DEBUG": "true", "GIH_VAR_DIR": str(tmp_path / "elsewhere")}
    printed = subprocess.run(
        [sys.executable, "-c", "from gih.celery import app; print(app.conf.beat_schedule_filename)"],
        cwd=settings.BASE_DIR, env={**env, "DJANGO_SETTINGS_MODULE": "gih.settings"}, capture_output=True,
        text=True, timeout=60, check=False,
    )
    assert printed.stdout.strip() == str(tmp_path / "elsewhere" / "celerybeat-schedule"), printed.stderr
    assert os.path.isdir(tmp_path / "elsewhere")
