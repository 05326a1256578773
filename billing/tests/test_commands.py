"""manage.py grant_credits and manage.py billing_audit."""

import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from billing.models import CreditBatch, LedgerEntry
from billing.selectors import balance_get
from billing.tests.factories import frozen_clock

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def support(make_user):
    return make_user("support@example.com", is_staff=True)


def grant(*args: str, actor: str | None = "support@example.com") -> str:
    out = StringIO()
    call_command("grant_credits", *args, *(["--actor", actor] if actor else []), stdout=out)
    return out.getvalue()


def test_it_grants_credits_that_never_expire_recording_the_actor_and_prints_the_new_balance(user, support):
    output = grant("alice@example.com", "25")

    batch = CreditBatch.objects.filter(account_id=user.pk).latest("id")
    assert (batch.amount, batch.remaining, batch.expires_at, batch.source) == (25, 25, None, "grant")
    entry = LedgerEntry.objects.get(batch=batch)
    assert (entry.kind, entry.actor, batch.granted_by) == ("grant", support, support)
    assert f"Granted 25 credits to alice@example.com by support@example.com (batch {batch.pk}, never expires)" in output
    assert "Balance is now 125 credits." in output


def test_it_grants_expiring_credits_with_a_note(user):
    now = timezone.now().replace(microsecond=0)
    with frozen_clock(now):
        output = grant("ALICE@example.com", "40", "--expires-in-days", "30", "--note", "Support ticket 42")

    batch = CreditBatch.objects.filter(account_id=user.pk).latest("id")
    assert (batch.amount, batch.expires_at, batch.note) == (40, now + timedelta(days=30), "Support ticket 42")
    assert LedgerEntry.objects.get(batch=batch).note == "Support ticket 42"
    assert f"expires {batch.expires_at.isoformat()}" in output
    assert "Balance is now 140 credits." in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody@example.com", "10"], "No user with email 'nobody@example.com'"),
        (["alice@example.com", "0"], "'0' is not a positive whole number"),
        (["alice@example.com", "-3"], "'-3' is not a positive whole number"),
        (["alice@example.com", "ten"], "'ten' is not a whole number"),
        (["alice@example.com", "10", "--expires-in-days", "0"], "'0' is not a positive whole number"),
        (["alice@example.com", "3000000000"], "'3000000000' is more than 1,000,000,000 credits"),
        (["alice@example.com", "10", "--expires-in-days", "99999999999"], "more than 100 years"),
    ],
    ids=["unknown-email", "zero", "negative", "not-a-number", "zero-days", "too-many", "too-far"],
)
def test_it_rejects_bad_grants_with_a_clear_error_and_writes_nothing(user, args, message):
    ledger_rows = LedgerEntry.objects.count()

    with pytest.raises(CommandError, match=message):
        grant(*args)

    assert LedgerEntry.objects.count() == ledger_rows
    assert balance_get(user=user)["credits"] == 100


@pytest.mark.parametrize(
    ("actor", "message"),
    [
        (None, "the following arguments are required: --actor"),
        ("alice@example.com", "'alice@example.com' is not an active staff user"),
        ("ghost@example.com", "'ghost@example.com' is not an active staff user"),
    ],
    ids=["missing", "not-staff", "unknown"],
)
def test_it_refuses_a_grant_without_a_staff_actor(user, actor, message):
    ledger_rows = LedgerEntry.objects.count()

    with pytest.raises(CommandError, match=message):
        grant("alice@example.com", "10", actor=actor)

    assert LedgerEntry.objects.count() == ledger_rows
    assert balance_get(user=user)["credits"] == 100


def test_it_reports_a_clean_audit_in_one_line(user, other_user):
    out = StringIO()
    call_command("billing_audit", stdout=out)
    assert out.getvalue().strip().splitlines() == [
        "Billing audit OK: every batch matches its ledger rows and every generation its charges."
    ]


def test_it_lists_every_problem_and_fails_the_audit(user, other_user):
    for owner in (user, other_user):
        batch = CreditBatch.objects.get(account_id=owner.pk)
        CreditBatch.objects.filter(pk=batch.pk).update(remaining=90)
    err = StringIO()

    with pytest.raises(CommandError, match="2 problem"):
        call_command("billing_audit", stderr=err)

    assert err.getvalue().count("remaining 90 but ledger sums to 100") == 2


@pytest.mark.django_db(transaction=True)
def test_it_exits_with_status_1_from_the_shell_when_the_audit_fails(make_user):
    user = make_user(credits=10)
    # A separate process reads committed data, so this test runs outside a test transaction.
    db = connection.settings_dict
    credentials = f"{db['USER']}:{db['PASSWORD']}" if db["PASSWORD"] else db["USER"]
    env = {**os.environ, "DATABASE_URL": f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}"}
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "billing_audit"]

    clean = subprocess.run(manage, env=env, capture_output=True, text=True, timeout=120, check=False)
    CreditBatch.objects.filter(account_id=user.pk).update(remaining=3)
    corrupted = subprocess.run(manage, env=env, capture_output=True, text=True, timeout=120, check=False)

    assert (clean.returncode, corrupted.returncode) == (0, 1), (clean.stderr, corrupted.stderr)
    assert "Billing audit OK" in clean.stdout
    assert "remaining 3 but ledger sums to 10" in corrupted.stderr
