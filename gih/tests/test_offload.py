"""Password hashing and image checks run off the gevent event loop, so other requests keep being served
(a structure-only check of an image up to 4 MB runs inline: about a millisecond, less than the hand-off costs).

A subprocess patched by gevent, as gunicorn's workers are, hashes passwords (Django's
1,000,000-iteration PBKDF2) and checks a large PNG while a ticker greenlet counts how
often it got to run *during* that work. On the loop, the work never yields, so the
ticker cannot run at all meanwhile: zero is the failure, any count is the fix. Nothing
is timed.
"""

import json
import os
import subprocess
import sys

from django.conf import settings

SCRIPT = r"""
from gevent import monkey

monkey.patch_all()

import io
import json
import os

import django

os.environ["DJANGO_SETTINGS_MODULE"] = "gih.settings"
django.setup()

import gevent
from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password, make_password
from PIL import Image

from generations.images import inspect_image

busy = [0]
ticks = {"hashing": 0, "image": 0, "large_check": 0}
phase = ["hashing"]


def ticker():
    while True:
        if busy[0]:
            ticks[phase[0]] += 1
        gevent.sleep(0.0005)


def work(call):
    busy[0] += 1
    try:
        return call()
    finally:
        busy[0] -= 1


gevent.spawn(ticker)
gevent.sleep(0.01)
jobs = [gevent.spawn(work, lambda: make_password("pw-Secret-123")) for _ in range(2)]
gevent.joinall(jobs)
hashes = [job.value for job in jobs]

phase[0] = "image"
buffer = io.BytesIO()
Image.effect_noise((2048, 2048), 64).convert("RGB").save(buffer, format="PNG", compress_level=1)
png = buffer.getvalue()
gevent.joinall([gevent.spawn(work, lambda: inspect_image(png, max_pixels=10**8, decode=True)) for _ in range(2)])

phase[0] = "large_check"  # structure only, but a body too large to check inline (images.INLINE_CHECK_MAX_BYTES)
assert len(png) > 4 * 1024 * 1024, len(png)
gevent.joinall([gevent.spawn(work, lambda: inspect_image(png, max_pixels=10**8, decode=False)) for _ in range(4)])

stock = PBKDF2PasswordHasher().encode("pw-Secret-123", "somesalt1234567890")
print(json.dumps({
    "ticks": ticks,
    "verifies": all(check_password("pw-Secret-123", h) for h in hashes),
    "stock_hash_verifies": check_password("pw-Secret-123", stock),
    "algorithm": hashes[0].split("$")[0],
}))
"""


def test_hashing_and_image_checks_leave_the_event_loop_running():
    env = {name: value for name, value in os.environ.items() if name not in {"DATABASE_URL", "PYTEST_CURRENT_TEST"}}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["ticks"]["hashing"] > 0, "the event loop stood still while passwords were hashed"
    assert report["ticks"]["image"] > 0, "the event loop stood still while an image was checked"
    assert report["ticks"]["large_check"] > 0, "the event loop stood still while a large image's structure was checked"
    assert report["verifies"] and report["stock_hash_verifies"]
    assert report["algorithm"] == "pbkdf2_sha256"


FAILING_SCRIPT = r"""
from gevent import monkey

monkey.patch_all()

import os

import django

os.environ["DJANGO_SETTINGS_MODULE"] = "gih.settings"
django.setup()

from generations.images import NotAnImage, inspect_image

try:
    inspect_image(b"not an image", max_pixels=10**8, decode=True)
except NotAnImage as error:
    print("raised:", error)
"""


def test_an_error_in_offloaded_work_reaches_the_caller_without_a_traceback_in_the_log():
    # gevent's thread pool reported every exception of its tasks on stderr, a traceback per refused upload.
    env = {name: value for name, value in os.environ.items() if name not in {"DATABASE_URL", "PYTEST_CURRENT_TEST"}}
    result = subprocess.run(
        [sys.executable, "-c", FAILING_SCRIPT],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "raised: not a PNG, JPEG or WebP image"
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
