"""Start-up tuning (gih/process.py): the long-running processes freeze their start-up heap and keep large buffers
on the heap."""

import gc
import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

# Run in a fresh interpreter: freezing this test process would change every later test's collector.
FREEZE = """
import gc, json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gih.settings")
import django
django.setup()
{call}
from django.core.files.storage import default_storage
print(json.dumps({{
    "frozen": gc.get_freeze_count(),
    "urlconf_loaded": "gih.urls" in sys.modules,
    "botocore_loaded": "botocore.client" in sys.modules,
    "s3_connection_built": "_shared_connection" in vars(default_storage._wrapped),
}}))
"""


def run_freeze(call: str, env: dict[str, str]) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", FREEZE.format(call=call)],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def s3_env(tmp_path) -> dict[str, str]:
    # No request is made: the warm-up only builds the boto3 resource.
    return {
        "GIH_VAR_DIR": str(tmp_path), "AWS_STORAGE_BUCKET_NAME": "warm-up", "AWS_S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_S3_REGION_NAME": "us-east-1",
    }


@pytest.mark.parametrize("call", [
    "from gih.process import freeze_startup_heap; freeze_startup_heap()",
    # What gunicorn runs in each worker once the app is loaded (the Procfile's web process).
    "namespace = {}; exec(open('gunicorn.conf.py').read(), namespace); namespace['post_worker_init'](None)",
], ids=["function", "gunicorn-hook"])
def test_it_loads_the_lazy_parts_then_freezes_them_out_of_the_collector(call, tmp_path):
    printed = run_freeze(call, s3_env(tmp_path))

    assert printed["urlconf_loaded"] and printed["botocore_loaded"] and printed["s3_connection_built"]
    assert printed["frozen"] > 50_000  # Django, DRF, Celery, botocore: the bulk of what is alive


def test_it_freezes_on_local_storage_too(tmp_path):
    printed = run_freeze("from gih.process import freeze_startup_heap; freeze_startup_heap()", {
        "GIH_VAR_DIR": str(tmp_path)
    })

    assert printed["urlconf_loaded"] and not printed["botocore_loaded"]
    assert printed["frozen"] > 10_000


def test_the_test_process_itself_is_left_alone():
    assert gc.get_freeze_count() == 0


# Counts page faults (not time) while a request's worth of large buffers comes and goes.
BUFFERS = """
import io, json, os, resource, sys
from gih.process import keep_buffers_on_heap
tuned = keep_buffers_on_heap() if sys.argv[1] == "tuned" else False
data = os.urandom(1_642_437)  # the bench's photo-like 1024x1024 PNG
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    buffer = io.BytesIO()
    buffer.write(data)
    buffer.seek(0)
    copy = buffer.read()
    del buffer, copy
print(json.dumps({"tuned": tuned, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def _buffers(mode: str, env: dict[str, str]) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", BUFFERS, mode],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_large_buffers_stay_on_the_heap_instead_of_faulting_in_each_time():
    env = {name: value for name, value in os.environ.items() if not name.startswith("MALLOC_")}
    default, tuned = _buffers("default", env), _buffers("tuned", env)

    assert tuned["tuned"] is True
    # Each 1.6 MB buffer is ~400 pages: by default they fault in again on every round.
    assert default["faults"] > 50 * 300, default
    assert tuned["faults"] < default["faults"] / 10, (tuned, default)


def test_the_operator_s_own_malloc_settings_win():
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "1048576"}
    assert _buffers("tuned", env)["tuned"] is False
