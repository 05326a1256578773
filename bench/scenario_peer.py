"""The `peer` scenario: the hub next to the LiteLLM proxy, same stand-in upstream, same load, same run.

For each gateway (LiteLLM's /v1, the hub's OpenAI face /v1 with b64_json out like LiteLLM, the hub's
/api/v1 with URL out) and 1, 4 and 16 clients: the overhead over the direct upstream call (each client
sends gateway, then upstream, so the pairs share load), then images/s with 16 clients on the gateway
alone, and CPU-ms per image summed over every process of that gateway. The hub's sum includes Postgres
and moto's S3 server (a real object store's CPU would not be on this machine); LiteLLM stores nothing.
"""

import json

from bench import peer
from bench import stack as stk
from bench.scenarios import Context, figure, note, percentile

LEVELS = (1, 4, 16)


def _cpu(groups: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(stk.cpu_seconds([pid]) for pid in pids) for name, pids in groups.items()}


def _hub_pids(ctx: Context) -> dict[str, list[int]]:
    procs = ctx.stack.procs
    groups = {name: procs[name].pids() for name in ("web", "worker", "s3") if name in procs}
    return {**groups, "postgres": stk.pg_backend_pids()}


def _overhead(ctx: Context, target: dict, concurrency: int) -> tuple[list[float], int, int]:
    pairs = ctx.sizes.peer_pairs * max(1, concurrency // 4)
    answer = ctx.client.call(
        op="loop", targets=[target, ctx.upstream()], concurrency=concurrency, requests=pairs,
        seconds=ctx.sizes.peer_seconds, timeout=120,
    )  # fmt: skip
    rows = answer["iterations"]
    diffs = [h[0] - d[0] for h, d in rows if h[1] == 200 and d[1] == 200]
    return diffs, len(rows), len(diffs)


def _saturation(ctx: Context, target: dict, pids) -> tuple[float, dict[str, float], int]:
    """Images/s with 16 clients, and CPU-ms per image of each process group (a process gone since counts 0)."""
    before = _cpu(pids())
    answer = ctx.client.call(
        op="loop", targets=[target], concurrency=16, requests=10**6, seconds=ctx.sizes.peer_saturation_seconds,
        timeout=120,
    )  # fmt: skip
    ok = sum(1 for row in answer["iterations"] if row[0][1] == 200)
    after = _cpu(pids())
    per_image = {name: (after[name] - before.get(name, 0.0)) / max(ok, 1) * 1e3 for name in after}
    return ok / answer["wall"], per_image, len(answer["iterations"]) - ok


def peer_scenario(ctx: Context) -> list[dict]:
    ctx.standin_control(delay=0, photo=True)
    port, master_key = peer.start(ctx.stack)
    note(f"LiteLLM proxy on :{port}, pids {peer.pids(ctx.stack)}")
    body = {"model": ctx.generation_body()["model"], "prompt": ctx.generation_body()["prompt"], "n": 1,
            "size": ctx.generation_body()["size"], "quality": ctx.generation_body()["quality"]}  # fmt: skip
    litellm = {
        "host": stk.HOST, "port": port, "method": "POST", "path": "/v1/images/generations",
        "headers": {"Content-Type": "application/json"}, "keys": [f"Bearer {master_key}"], "body": json.dumps(body),
    }  # fmt: skip
    gateways = {
        "litellm /v1": (litellm, lambda: {"litellm": peer.pids(ctx.stack)}),
        "hub /v1": (ctx.hub("POST", "/v1/images/generations", body), lambda: _hub_pids(ctx)),
        "hub /api/v1": (ctx.hub("POST", "/api/v1/images/generations", ctx.generation_body()), lambda: _hub_pids(ctx)),
    }
    results: dict[str, dict] = {}
    for name, (target, pids) in gateways.items():
        warm = ctx.client.call(op="loop", targets=[target], concurrency=4, requests=16, seconds=60, timeout=120)
        statuses = {row[0][1] for row in warm["iterations"]}
        if statuses != {200}:
            note(f"{name}: warm-up answered {sorted(map(str, statuses))}; skipped")
            continue
        levels = {}
        for concurrency in LEVELS:
            diffs, sent, ok = _overhead(ctx, target, concurrency)
            levels[concurrency] = (percentile(diffs, 50), percentile(diffs, 99))
            note(f"{name} x{concurrency}: {ok}/{sent} pairs ok; overhead p50 {levels[concurrency][0]:.1f} ms "
                 f"p99 {levels[concurrency][1]:.1f} ms")  # fmt: skip
        rate, cpu, failed = _saturation(ctx, target, pids)
        cpu_ms = sum(cpu.values())
        parts = ", ".join(f"{group} {value:.1f}" for group, value in cpu.items())
        note(f"{name}: {rate:.1f} images/s at 16 clients ({failed} failed), {cpu_ms:.1f} CPU-ms per image ({parts})")
        results[name] = {"levels": levels, "rate": rate, "cpu_ms": cpu_ms, "cpu": cpu}
    return _figures(results)


def _figures(results: dict[str, dict]) -> list[dict]:
    peer_result, hub = results.get("litellm /v1"), results.get("hub /v1")
    figures = []
    for name, result in results.items():
        for concurrency, (p50, p99) in result["levels"].items():
            reference = peer_result["levels"][concurrency][0] if peer_result else float("nan")
            is_hub_face = name == "hub /v1" and concurrency in (1, 4) and peer_result is not None
            figures.append(
                figure(
                    f"peer_overhead[{name} x{concurrency}]",
                    f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (gateway - direct, paired)",
                    f"LiteLLM p50 {reference:.1f} ms",
                    f"{p50 / reference:.2f}x" if peer_result and reference > 0 else "n/a",
                    "<= LiteLLM p50" if is_hub_face else "-",
                    (p50 <= reference) if is_hub_face else None,
                )
            )
    if hub and peer_result:
        figures.append(
            figure(
                "peer_images_per_second",
                f"hub /v1 {hub['rate']:.1f} images/s",
                f"LiteLLM {peer_result['rate']:.1f} images/s",
                f"{hub['rate'] / peer_result['rate']:.2f}x",
                ">= LiteLLM",
                hub["rate"] >= peer_result["rate"],
            )
        )
        figures.append(
            figure(
                "hub_web_cpu_per_image",
                f"hub /v1 web {hub['cpu'].get('web', float('nan')):.1f} ms (gunicorn master and workers)",
                "all of the hub's processes " + ", ".join(f"{k} {v:.1f}" for k, v in hub["cpu"].items()),
                "-",
                "<= 12 ms",
                hub["cpu"].get("web", float("inf")) <= 12,
            )
        )
        figures.append(
            figure(
                "peer_cpu_per_image",
                f"hub /v1 {hub['cpu_ms']:.1f} ms (web, worker, Postgres, moto S3)",
                f"LiteLLM {peer_result['cpu_ms']:.1f} ms (all its processes)",
                f"{hub['cpu_ms'] / peer_result['cpu_ms']:.2f}x",
                "-",
                None,
            )
        )
    return figures
