"""Settings from the environment, checked in fresh processes with exactly the env given."""

import json
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management.utils import get_random_secret_key

PRINT_SETTINGS = """
import json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gih.settings")
from django.conf import settings
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "DATABASE": settings.DATABASES["default"],
    "DEFAULT_STORAGE": settings.STORAGES["default"]["BACKEND"],
    "SERVE_MEDIA": settings.SERVE_MEDIA,
    "MEDIA_ROOT": settings.MEDIA_ROOT,
    "CACHE": settings.CACHES["default"]["BACKEND"],
    "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    "IMAGE_PROVIDER": settings.IMAGE_PROVIDER,
    "SECURE_SSL_REDIRECT": settings.SECURE_SSL_REDIRECT,
    "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
    "SECURE_HSTS_SECONDS": settings.SECURE_HSTS_SECONDS,
}, default=str))
"""


def production_env() -> dict[str, str]:
    return {
        "DEBUG": "false",
        "SECRET_KEY": get_random_secret_key(),  # 50 random characters
        "ALLOWED_HOSTS": "example.com",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/gih",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "AWS_STORAGE_BUCKET_NAME": "x",
        "OPENAI_API_KEY": "sk-test",
        "TRUSTED_PROXY_COUNT": "1",  # behind the documented TLS proxy (README, Deploying)
    }


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    # `env` replaces the environment entirely, so nothing leaks in from the test run.
    return subprocess.run(
        [sys.executable, *args], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )


def printed_settings(env: dict[str, str]) -> dict:
    result = run(["-c", PRINT_SETTINGS], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_it_passes_the_deployment_checks_in_production():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_its_deployment_checks_name_a_proxy_it_cannot_see_past():
    env = {name: value for name, value in production_env().items() if name != "TRUSTED_PROXY_COUNT"}
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)

    assert result.returncode != 0
    assert "gih.W001" in result.stdout + result.stderr


def test_it_uses_the_production_services_it_is_given():
    printed = printed_settings(production_env())

    assert printed["DEBUG"] is False
    assert printed["DATABASE"]["ENGINE"] == "django.db.backends.postgresql"
    assert printed["DATABASE"]["NAME"] == "gih"
    assert printed["DEFAULT_STORAGE"] == "gih.storage.S3Storage"
    assert printed["SERVE_MEDIA"] is False
    assert printed["CACHE"] == "django.core.cache.backends.redis.RedisCache"
    assert printed["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/0"
    assert printed["IMAGE_PROVIDER"] == "openai"
    assert printed["SECURE_SSL_REDIRECT"] is True
    assert printed["SESSION_COOKIE_SECURE"] is True
    assert printed["SECURE_HSTS_SECONDS"] >= 31536000
    options = printed["DATABASE"]["OPTIONS"]
    assert (options["server_side_binding"], options["prepare_threshold"]) == (True, 1)
    assert options["pool"]["max_size"] == 20


def test_it_leaves_statements_unprepared_for_a_transaction_pooler_when_asked():
    printed = printed_settings({**production_env(), "DB_PREPARED_STATEMENTS": "false"})

    assert "server_side_binding" not in printed["DATABASE"]["OPTIONS"]
    assert "prepare_threshold" not in printed["DATABASE"]["OPTIONS"]


@pytest.mark.parametrize(
    "secret_key",
    [None, "", "too-short-0123456789", "dev-only-insecure-key-do-not-use-in-production"],
    ids=["unset", "empty", "short", "the-development-key"],
)
def test_it_refuses_to_start_without_a_real_secret_key_when_debug_is_off(secret_key):
    env = production_env()
    if secret_key is None:
        del env["SECRET_KEY"]
    else:
        env["SECRET_KEY"] = secret_key

    result = run(["manage.py", "check"], env)

    assert result.returncode != 0
    assert "SECRET_KEY must be set to a random string of 32+ characters when DEBUG is off" in result.stderr


def test_it_refuses_to_start_the_openai_provider_without_a_key():
    result = run(["manage.py", "check"], {"IMAGE_PROVIDER": "openai"})

    assert result.returncode != 0
    assert "IMAGE_PROVIDER=openai needs OPENAI_API_KEY" in result.stderr


def test_it_refuses_an_unknown_provider():
    result = run(["manage.py", "check"], {"IMAGE_PROVIDER": "midjourney"})

    assert result.returncode != 0
    assert "IMAGE_PROVIDER must be 'openai' or 'local'" in result.stderr


def test_it_runs_on_embedded_defaults_with_no_environment_at_all():
    printed = printed_settings({})

    assert printed["DEBUG"] is True
    assert printed["DATABASE"]["ENGINE"] == "django.db.backends.sqlite3"
    assert printed["DATABASE"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert printed["DEFAULT_STORAGE"] == "django.core.files.storage.FileSystemStorage"
    assert printed["SERVE_MEDIA"] is True
    assert printed["MEDIA_ROOT"] == str(settings.BASE_DIR / "var" / "media")
    assert printed["CACHE"] == "django.core.cache.backends.locmem.LocMemCache"
    assert printed["CELERY_BROKER_URL"] == "filesystem://"
    assert printed["IMAGE_PROVIDER"] == "local"
    assert printed["SECURE_SSL_REDIRECT"] is False
