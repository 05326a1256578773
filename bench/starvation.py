"""Scenario `starvation`: a bystander's /api/v1/credits while others flood the hub (issue 12, items 5 and 6).

Two floods, each from a second load-client process while the main one probes a bystander's
`/credits` (4 clients) before and during it:

- hostile tenant: one account with no credits sends generation requests from many clients at
  once. Every answer must be a cheap 402 (balance checked before the account lock) or a 503
  account_busy, and no pooled connection may wait on that account's row for long;
- login flood: unauthenticated log-ins with wrong passwords for many addresses (each a full
  PBKDF2 hash, run in a real thread, off the event loop: gih/offload.py).

Prints figures only; nothing is asserted (see bench/RESULTS.md).
"""

import re
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

from bench import stack as stk
from bench.scenarios import Context, LoadClient, _probe_credits, _statuses, figure, note, percentile

TARGET_P99_MS = 100


def _zero_credit_key() -> str:
    from accounts.services import api_key_create, user_create

    user = user_create(email="bench-hostile@example.com")
    return api_key_create(user=user, name="hostile").raw_key


def _login_targets(ctx: Context, addresses: int) -> list[dict]:
    """POST /login/ bodies for `addresses` unknown e-mails, with one CSRF cookie and token for all."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"http://{stk.HOST}:{ctx.stack.web_port}/login/", timeout=10) as response:
        page = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    targets = []
    for number in range(addresses):
        body = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token, "username": f"flood-{number}@example.com", "password": "wrong-password-1"}
        )
        targets.append(
            {
                "host": stk.HOST,
                "port": ctx.stack.web_port,
                "method": "POST",
                "path": "/login/",
                "headers": {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Cookie": cookie,
                    "Referer": f"http://{stk.HOST}:{ctx.stack.web_port}/login/",
                },
                "keys": [],
                "body": body,
            }
        )
    return targets


def _during(ctx: Context, flood: dict, seconds: float) -> tuple[list[float], dict]:
    """Probe the bystander's /credits while `flood` (a loop command) runs in a second client."""
    flooder = LoadClient()
    try:
        flooder.send(**flood)
        during = _probe_credits(ctx, seconds)
        answer = flooder.receive()
    finally:
        flooder.close()
    return during, answer


def starvation(ctx: Context) -> list[dict]:
    sizes = ctx.sizes
    seconds = max(2.0, sizes.probe_seconds * 2)
    hostile = ctx.hub(
        "POST",
        "/api/v1/images/generations",
        ctx.generation_body(),
        keys=[f"Bearer {_zero_credit_key()}"],
    )
    idle = _probe_credits(ctx, sizes.probe_seconds)
    idle_p99 = percentile(idle, 99)
    flood_clients = 30 if sizes.inflight < 100 else 600
    during, answer = _during(
        ctx,
        {"op": "loop", "targets": [hostile], "concurrency": flood_clients, "requests": 10**7, "seconds": seconds},
        seconds,
    )
    rows = [row[0] for row in answer["iterations"]]
    note(
        f"hostile tenant: {len(rows)} requests from {flood_clients} clients in {answer['wall']:.1f}s, statuses "
        f"{_statuses(rows)}; bystander /credits idle p99 {idle_p99:.1f} ms, during p99 "
        f"{percentile(during, 99):.1f} ms ({len(during)} requests)"
    )
    hostile_p99 = percentile(during, 99)

    addresses = 40 if sizes.inflight < 100 else 400
    login_clients = 8 if sizes.inflight < 100 else 32
    logins, answer = _during(
        ctx,
        {
            "op": "loop",
            "targets": _login_targets(ctx, addresses),
            "concurrency": login_clients,
            "requests": 10**7,
            "seconds": seconds,
            "timeout": 120,
        },
        seconds,
    )
    login_rows = [cell for row in answer["iterations"] for cell in row]
    note(
        f"login flood: {len(login_rows)} log-ins for {addresses} addresses from {login_clients} clients in "
        f"{answer['wall']:.1f}s, statuses {_statuses(login_rows)}; bystander /credits during p99 "
        f"{percentile(logins, 99):.1f} ms ({len(logins)} requests)"
    )
    login_p99 = percentile(logins, 99)
    return [
        figure(
            "bystander_credits_p99_hostile_tenant",
            f"{hostile_p99:.1f} ms during the flood",
            f"idle p99 {idle_p99:.1f} ms",
            f"{hostile_p99 / idle_p99:.1f}x",
            f"< {TARGET_P99_MS} ms",
            hostile_p99 < TARGET_P99_MS,
        ),
        figure(
            "bystander_credits_p99_login_flood",
            f"{login_p99:.1f} ms during the flood",
            f"idle p99 {idle_p99:.1f} ms",
            f"{login_p99 / idle_p99:.1f}x",
            f"< {TARGET_P99_MS} ms",
            login_p99 < TARGET_P99_MS,
        ),
    ]
