"""Run the hub locally: migrate, create a demo account with credits and a fresh API key,
then start the web process and a worker (as the Procfile does) until Ctrl-C.

With no environment set this uses SQLite, local media, the filesystem Celery broker
and the local image renderer: nothing to install beyond requirements.txt.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEMO_EMAIL = os.environ.get("DEMO_EMAIL", "demo@example.com")
DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "demo-password-123")
DEMO_CREDITS = int(os.environ.get("DEMO_CREDITS", "120"))
PORT = os.environ.get("PORT", "8000")


def manage(*args: str, capture: bool = False) -> str:
    result = subprocess.run(  # noqa: S603 (our own manage.py with fixed arguments)
        [sys.executable, "manage.py", *args], cwd=ROOT, check=True, text=True, capture_output=capture
    )
    return result.stdout.strip() if capture else ""


def setup_demo_account() -> str:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gih.settings")
    sys.path.insert(0, str(ROOT))
    django.setup()
    from accounts.models import User
    from accounts.services import api_key_create, user_create
    from billing.selectors import balance_get
    from billing.services import credits_grant

    user = User.objects.filter(email=DEMO_EMAIL).first()
    if user is None:
        user = user_create(email=DEMO_EMAIL, password=DEMO_PASSWORD, account_type="PRO")
    balance = balance_get(user=user)["credits"]
    if balance < DEMO_CREDITS:
        credits_grant(user=user, amount=DEMO_CREDITS - balance, note="Demo credits")
    return api_key_create(user=user, name=f"demo {time.strftime('%Y-%m-%d %H:%M')}").raw_key


def wait_until_up(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (our own localhost URL)
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"The web process did not answer on {url}.")


def main() -> None:
    os.chdir(ROOT)
    manage("migrate", "--noinput")
    manage("collectstatic", "--noinput", "--verbosity", "0")
    raw_key = setup_demo_account()

    env = {**os.environ, "PORT": PORT, "HOST": "127.0.0.1"}
    processes = [
        subprocess.Popen([str(BIN / "gunicorn"), "gih.wsgi"], cwd=ROOT, env=env),  # noqa: S603
        subprocess.Popen(  # noqa: S603
            # One worker for both queues here (generations and webhook deliveries); production runs two processes.
            [str(BIN / "celery"), "-A", "gih", "worker", "-P", "solo", "-Q", "celery,webhooks", "-l", "WARNING"],
            cwd=ROOT,
            env=env,
        ),
    ]
    base = f"http://127.0.0.1:{PORT}"
    try:
        wait_until_up(f"{base}/healthz")
        print(
            f"""
GPT Image Hub is running at {base}/  (docs: {base}/docs/, admin: {base}/admin/)
Demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}

Your API key (shown once, the server keeps only its hash):
  {raw_key}

Try it:
  curl {base}/api/v1/models
  curl {base}/api/v1/credits -H "Authorization: Bearer {raw_key}"
  curl {base}/api/v1/images/generations \\
    -H "Authorization: Bearer {raw_key}" \\
    -H "Content-Type: application/json" \\
    -d '{{"model": "gpt-image-2", "prompt": "A cinematic product photo with premium studio lighting",
         "size": "1024x1024", "quality": "high", "n": 1}}'

Press Ctrl-C to stop.""",
            flush=True,
        )
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
