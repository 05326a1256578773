"""Every user has a credit account from the start, and the sign-up bonus is granted once."""

import importlib
from datetime import timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.utils import timezone

from accounts.models import User
from accounts.services import user_sign_up
from billing.models import CreditAccount, CreditBatch, LedgerEntry
from billing.selectors import balance_get, billing_audit
from billing.services import signup_bonus_grant
from conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def test_every_way_of_making_a_user_makes_its_credit_account(client, admin_client):
    User.objects.create_user(email="manager@example.com", password=TEST_PASSWORD)
    call_command("create_user", "cli@example.com", stdout=StringIO())
    User.objects.create_superuser(email="root@example.com", password=TEST_PASSWORD)
    call_command("createsuperuser", "--noinput", "--email", "super@example.com", stdout=StringIO())
    admin_client.post(
        "/admin/accounts/user/add/",
        {"email": "staffmade@example.com", "password1": "Xyzzy-Plugh-4242", "password2": "Xyzzy-Plugh-4242",
         "usable_password": "true"},
    )
    client.post("/signup/", {"email": "web@example.com", "password1": "Xyzzy-Plugh-4242",
                             "password2": "Xyzzy-Plugh-4242"})

    emails = ["manager", "cli", "root", "super", "staffmade", "web"]
    for name in emails:
        user = User.objects.get(email=f"{name}@example.com")
        assert CreditAccount.objects.filter(user=user).exists(), name
    web = User.objects.get(email="web@example.com")
    assert admin_client.get(f"/admin/billing/creditaccount/{web.pk}/grant/").status_code == 200


def test_the_data_migration_creates_the_missing_accounts(make_user):
    users = [make_user() for _ in range(3)]
    CreditAccount.objects.filter(user__in=users[:2]).delete()
    migration = importlib.import_module("billing.migrations.0005_credit_account_for_every_user")

    migration.forwards(apps, None)
    migration.forwards(apps, None)  # and again: nothing twice

    assert CreditAccount.objects.filter(user__in=users).count() == 3


def test_there_is_no_bonus_by_default(settings):
    assert settings.SIGNUP_BONUS_CREDITS == 0
    user = user_sign_up(email="plain@example.com", password=TEST_PASSWORD)
    assert not CreditBatch.objects.filter(account_id=user.pk).exists()
    assert balance_get(user=user)["credits"] == 0


def test_a_sign_up_gets_the_configured_bonus_once(settings):
    settings.SIGNUP_BONUS_CREDITS = 25
    settings.SIGNUP_BONUS_EXPIRES_DAYS = 14

    user = user_sign_up(email="new@example.com", password=TEST_PASSWORD)
    again = signup_bonus_grant(user=user)

    assert again is None
    batch = CreditBatch.objects.get(account_id=user.pk)
    assert (batch.source, batch.amount, batch.remaining) == ("signup_bonus", 25, 25)
    assert timedelta(days=13, hours=23) < batch.expires_at - timezone.now() <= timedelta(days=14)
    assert LedgerEntry.objects.filter(batch=batch, kind="grant", amount=25).count() == 1
    assert balance_get(user=user)["credits"] == 25
    assert billing_audit() == []


def test_a_never_expiring_bonus_and_one_on_the_sign_up_page(client, settings):
    settings.SIGNUP_BONUS_CREDITS = 10
    settings.SIGNUP_BONUS_EXPIRES_DAYS = 0

    client.post("/signup/", {"email": "page@example.com", "password1": "Xyzzy-Plugh-4242",
                             "password2": "Xyzzy-Plugh-4242"})

    batch = CreditBatch.objects.get(account__user__email="page@example.com")
    assert (batch.source, batch.amount, batch.expires_at) == ("signup_bonus", 10, None)
    assert "10" in client.get("/").content.decode()


def test_staff_made_users_get_no_sign_up_bonus(settings, make_user):
    settings.SIGNUP_BONUS_CREDITS = 10
    user = make_user()
    call_command("create_user", "cli@example.com", stdout=StringIO())
    assert not CreditBatch.objects.filter(account__user__in=[user, User.objects.get(email="cli@example.com")])
