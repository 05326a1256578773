"""The peer gateway: the LiteLLM proxy, in its own virtualenv, relaying to the same OpenAI stand-in as the hub.

`make bench` installs it into bench/.venv-litellm (bench/requirements-litellm.txt) on first use; nothing of
it enters the app's requirements. It runs with what LiteLLM documents for production on this machine:
gunicorn (`--run_gunicorn`) with `--num_workers` = cores, no database (no spend logs to write), the bundled
model-cost map (no internet). (Its uvicorn supervisor restarted workers that took more than a few seconds to
import on a loaded machine, so the proxy never came up; gunicorn waits for them.)
What it does per image: authenticate the master key, route, call upstream, relay the body (b64_json).
No storage, no ledger, no idempotency.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path

from bench import stack as stk

VENV = stk.ROOT / "bench" / ".venv-litellm"
REQUIREMENTS = stk.ROOT / "bench" / "requirements-litellm.txt"
STARTUP_SECONDS = 600  # LiteLLM imports a lot; under load on 2 cores it has taken minutes


def install() -> Path:
    """The proxy's executable, installing it on first use (pip from the registry)."""
    executable = VENV / "bin" / "litellm"
    stamp = VENV / ".installed"
    if executable.exists() and stamp.exists() and stamp.read_text() == REQUIREMENTS.read_text():
        return executable
    if not (VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(REQUIREMENTS.read_text())
    return executable


def _config(stack: stk.Stack, master_key: str) -> Path:
    config = stk.OUT / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {stack_model()}\n"
        "    litellm_params:\n"
        f"      model: openai/{stack_model()}\n"
        f"      api_base: http://{stk.HOST}:{stack.standin_port}/v1\n"
        f"      api_key: {stack.env['OPENAI_API_KEY']}\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "  request_timeout: 120\n"
        "general_settings:\n"
        f"  master_key: {master_key}\n"
        "  disable_spend_logs: true\n"
    )
    return config


def stack_model() -> str:
    from bench.scenarios import MODEL

    return MODEL


def start(stack: stk.Stack, *, workers: int | None = None) -> tuple[int, str]:
    """Start the proxy next to the stack (stopped with it); returns (port, master key)."""
    executable = install()
    master_key = f"sk-peer-{secrets.token_hex(16)}"
    port = stk.free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(stk.OUT)),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no internet: use the bundled price map
        "LITELLM_LOG": "ERROR",
        "DISABLE_ADMIN_UI": "True",
        "NO_DOCS": "True",
    }
    argv = [
        str(executable), "--config", str(_config(stack, master_key)), "--host", stk.HOST, "--port", str(port),
        "--num_workers", str(workers or os.cpu_count() or 1), "--run_gunicorn",
    ]  # fmt: skip
    proc = stk.Proc.start("litellm", argv, env)
    stack.procs["litellm"] = proc
    stk.wait_for(
        lambda: stk.http_ok(f"http://{stk.HOST}:{port}/health/liveliness"),
        seconds=STARTUP_SECONDS,
        what="the LiteLLM proxy",
        proc=proc,
    )
    return port, master_key


def pids(stack: stk.Stack) -> list[int]:
    """The proxy's master and every descendant (its uvicorn workers)."""
    proc = stack.procs.get("litellm")
    if proc is None:
        return []
    found, frontier = [], [proc.popen.pid]
    while frontier:
        pid = frontier.pop()
        found.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                frontier.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                continue
    return sorted(set(found))
