"""The ops commands: create_user, create_api_key, revoke_api_key."""

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import ApiKey, User
from accounts.services import api_key_create, api_key_revoke
from billing.selectors import balance_get

KEY_PATTERN = r"gih_live_[A-Za-z0-9]{32}"


def run(capsys, *args: str) -> tuple[str, str]:
    call_command(*args)
    captured = capsys.readouterr()
    return captured.out, captured.err


# --- create_user -------------------------------------------------------------


def test_it_creates_a_user_with_a_password(db, capsys):
    out, _ = run(capsys, "create_user", "Bob@Example.com", "--password", "pw-Secret-456")

    user = User.objects.get(email="bob@example.com")
    assert user.check_password("pw-Secret-456")
    assert not user.is_staff and not user.is_superuser
    assert balance_get(user=user)["account_type"] == "FREE"
    assert "bob@example.com" in out


def test_it_creates_a_user_without_a_usable_password(db, capsys):
    out, _ = run(capsys, "create_user", "carol@example.com")

    user = User.objects.get(email="carol@example.com")
    assert not user.has_usable_password()
    assert "no password" in out


def test_it_sets_the_account_type(db, capsys):
    run(capsys, "create_user", "dave@example.com", "--account-type", "PRO")

    assert balance_get(user=User.objects.get(email="dave@example.com"))["account_type"] == "PRO"


def test_it_creates_a_staff_user(db, capsys):
    run(capsys, "create_user", "erin@example.com", "--staff")

    user = User.objects.get(email="erin@example.com")
    assert user.is_staff
    assert not user.is_superuser


@pytest.mark.parametrize("email", ["alice@example.com", "ALICE@example.com"])
def test_it_rejects_a_duplicate_email(user, email):
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_user", email)

    assert User.objects.filter(email__iexact=email).count() == 1


def test_it_rejects_an_unknown_account_type(db):
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("create_user", "frank@example.com", "--account-type", "GOLD")

    assert not User.objects.filter(email="frank@example.com").exists()


def test_it_rejects_an_invalid_email(db):
    with pytest.raises(CommandError, match="not a valid email"):
        call_command("create_user", "not-an-email")

    assert not User.objects.exists()


# --- create_api_key ----------------------------------------------------------


def test_it_prints_only_the_key_and_the_key_works(client, user, capsys):
    out, err = run(capsys, "create_api_key", user.email)

    assert re.fullmatch(KEY_PATTERN + "\n", out)
    raw_key = out.strip()
    api_key = ApiKey.objects.get(user=user)
    assert api_key.name == "Default"
    assert api_key.expires_at is None
    assert api_key.display_prefix in err
    assert raw_key not in err

    response = client.get("/api/v1/credits", HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert response.status_code == 200
    assert response.json()["credits"] == 100


def test_it_names_the_key(user, capsys):
    run(capsys, "create_api_key", user.email, "--name", "CI pipeline")

    assert ApiKey.objects.get(user=user).name == "CI pipeline"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2031-01-31T12:30:00Z", datetime(2031, 1, 31, 12, 30, tzinfo=UTC)),
        ("2031-01-31T12:30:00+02:00", datetime(2031, 1, 31, 10, 30, tzinfo=UTC)),
        ("2031-01-31T12:30", datetime(2031, 1, 31, 12, 30, tzinfo=UTC)),  # TIME_ZONE is UTC
        ("2031-01-31", datetime(2031, 1, 31, tzinfo=UTC)),
    ],
)
def test_it_sets_the_expiry(user, capsys, value, expected):
    run(capsys, "create_api_key", user.email, "--expires-at", value)

    assert ApiKey.objects.get(user=user).expires_at == expected


def test_it_issues_a_key_that_stops_working_at_its_expiry(client, user, capsys):
    expires_at = timezone.now() + timedelta(minutes=5)
    out, _ = run(capsys, "create_api_key", user.email, "--expires-at", expires_at.isoformat())
    api_key = ApiKey.objects.get(user=user)
    assert api_key.expires_at == expires_at

    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get("/api/v1/credits", HTTP_AUTHORIZATION=f"Bearer {out.strip()}")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "expiredApiKey"


@pytest.mark.parametrize("value", ["tomorrow", "2031-13-01", "2020-01-01T00:00:00Z"])
def test_it_rejects_a_bad_or_past_expiry(user, value):
    with pytest.raises(CommandError, match="--expires-at"):
        call_command("create_api_key", user.email, "--expires-at", value)

    assert not ApiKey.objects.exists()


def test_it_refuses_a_key_for_an_unknown_user(db, capsys):
    with pytest.raises(CommandError, match="No user"):
        call_command("create_api_key", "nobody@example.com")

    assert capsys.readouterr().out == ""
    assert not ApiKey.objects.exists()


def test_it_warns_when_the_user_is_inactive(user, capsys):
    user.is_active = False
    user.save(update_fields=["is_active"])

    out, err = run(capsys, "create_api_key", user.email)

    assert re.fullmatch(KEY_PATTERN + "\n", out)
    assert "inactive" in err


def test_it_prints_only_the_key_so_a_shell_can_capture_it(tmp_path: Path):
    """Run as operators do, in fresh processes on a throwaway SQLite database."""
    env = {"PATH": os.environ.get("PATH", ""), "GIH_VAR_DIR": str(tmp_path), "DEBUG": "true"}

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True,
            timeout=120, check=False,
        )

    assert manage("migrate", "--no-input").returncode == 0
    assert manage("create_user", "ops@example.com").returncode == 0
    created = manage("create_api_key", "ops@example.com", "--name", "shell")
    assert created.returncode == 0, created.stderr
    assert re.fullmatch(KEY_PATTERN + "\n", created.stdout)

    # Revoking by the raw key checks its digest, so this proves the printed key is the real one.
    revoked = manage("revoke_api_key", created.stdout.strip())
    assert revoked.returncode == 0, revoked.stderr
    assert "Revoked" in revoked.stdout


# --- revoke_api_key ----------------------------------------------------------


def revoke_forms(issued) -> dict[str, str]:
    prefix = issued.api_key.prefix
    return {
        "raw key": issued.raw_key,
        "display prefix": f"gih_live_{prefix}…",
        "display prefix typed with dots": f"gih_live_{prefix}...",
        "bare prefix": prefix,
    }


@pytest.mark.parametrize("form", ["raw key", "display prefix", "display prefix typed with dots", "bare prefix"])
def test_it_revokes_a_key(client, user, issued_key, capsys, form):
    other = api_key_create(user=user, name="other")

    out, _ = run(capsys, "revoke_api_key", revoke_forms(issued_key)[form])

    issued_key.api_key.refresh_from_db()
    assert issued_key.api_key.revoked_at is not None
    assert "Revoked" in out and issued_key.api_key.display_prefix in out
    response = client.get("/api/v1/credits", HTTP_AUTHORIZATION=f"Bearer {issued_key.raw_key}")
    assert response.json()["error"]["code"] == "invalidApiKey"
    other.api_key.refresh_from_db()
    assert other.api_key.revoked_at is None


def test_it_leaves_an_already_revoked_key_as_it_was(issued_key, capsys):
    revoked_at = api_key_revoke(api_key=issued_key.api_key).revoked_at

    out, _ = run(capsys, "revoke_api_key", issued_key.api_key.prefix)

    issued_key.api_key.refresh_from_db()
    assert issued_key.api_key.revoked_at == revoked_at
    assert "already revoked" in out


@pytest.mark.parametrize("value", ["gih_live_zzzzzzzz…", "zzzzzzzz", "", "gih_live_"])
def test_it_rejects_an_unknown_key_or_prefix(issued_key, value):
    with pytest.raises(CommandError, match="No API key"):
        call_command("revoke_api_key", value)

    issued_key.api_key.refresh_from_db()
    assert issued_key.api_key.revoked_at is None


def test_it_does_not_revoke_on_a_raw_key_with_a_wrong_secret(issued_key):
    raw_key = issued_key.raw_key
    forged = raw_key[:-1] + ("a" if raw_key[-1] != "a" else "b")  # right prefix, wrong secret

    with pytest.raises(CommandError, match="No API key"):
        call_command("revoke_api_key", forged)

    issued_key.api_key.refresh_from_db()
    assert issued_key.api_key.revoked_at is None
