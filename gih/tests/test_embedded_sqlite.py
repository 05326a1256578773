"""The API on the embedded defaults (no environment: SQLite, local media, the local renderer), in a fresh process.

The suite runs on PostgreSQL; this checks that the raw-SQL reads (key lookup, /credits) and the
generation flow also hold on SQLite, which hands back naive UTC datetimes and 0/1 booleans.
"""

import json
import os
import subprocess
import sys

from django.conf import settings

SCRIPT = """
import json, os
os.environ["DJANGO_SETTINGS_MODULE"] = "gih.settings"
import django
django.setup()
from datetime import timedelta
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from accounts.services import api_key_create, api_key_revoke, user_create
from billing.selectors import balance_get, billing_audit
from billing.services import credits_grant
call_command("migrate", verbosity=0)
user = user_create(email="sqlite@example.com")
credits_grant(user=user, amount=7, expires_at=timezone.now() + timedelta(days=1))
credits_grant(user=user, amount=5)
issued = api_key_create(user=user)
client = Client(HTTP_AUTHORIZATION="Bearer " + issued.raw_key)
credits = client.get("/api/v1/credits").json()
expected = balance_get(user=user)
generated = client.post(
    "/api/v1/images/generations", {"model": "gpt-image-2", "prompt": "a red bicycle", "aspect_ratio": "1:1"},
    content_type="application/json",
)
spanning = client.post(  # 8 credits: more than the expiring batch's 7, so the charge takes from both
    "/api/v1/images/generations", {"model": "gpt-image-2", "prompt": "a blue kite", "quality": "high",
    "size": "1024x1024"}, content_type="application/json",
)
polled = client.get("/api/v1/generations/" + generated.json()["id"])
unknown = client.get("/api/v1/generations/gen_0000000000000000")
api_key_revoke(api_key=issued.api_key)
print(json.dumps({
    "credits": credits, "expected": expected, "generated": [generated.status_code, generated.json()],
    "spanning": [spanning.status_code, spanning.json()], "audit": [str(problem) for problem in billing_audit()],
    "polled": [polled.status_code, polled.json()], "unknown": unknown.status_code,
    "revoked": [client.get("/api/v1/credits").json(), client.get("/api/v1/generations/x").json()],
}))
"""


def test_the_api_answers_on_the_embedded_sqlite_database(tmp_path):
    env = {"PATH": os.environ["PATH"], "GIH_VAR_DIR": str(tmp_path)}  # no DATABASE_URL: SQLite in tmp_path
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert printed["credits"] == {"object": "credit_balance", "livemode": True, **printed["expected"]}
    assert printed["credits"]["credits"] == 12 and printed["credits"]["next_expiration"]["credits"] == 7
    status, generation = printed["generated"]
    assert status == 200 and generation["status"] == "succeeded" and len(generation["images"]) == 1
    assert generation["balance"]["credits"] == 12 - generation["usage"]["credits"]
    polled_status, polled = printed["polled"]
    assert polled_status == 200 and polled["status"] == "succeeded" and polled["images"] == generation["images"]
    assert printed["unknown"] == 404
    status, spanning = printed["spanning"]
    assert status == 200 and spanning["usage"]["credits"] == 8, spanning
    assert spanning["balance"]["credits"] == 12 - generation["usage"]["credits"] - 8
    assert printed["audit"] == []
    assert [body["error"]["code"] for body in printed["revoked"]] == ["invalidApiKey", "invalidApiKey"]
