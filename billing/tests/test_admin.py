"""Staff tools in the Django admin: grants and adjustments go through the services; the books are read-only."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from billing.models import CreditAccount, CreditBatch, LedgerEntry
from billing.selectors import balance_get, billing_audit

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> User:
    return User.objects.create_superuser(email="boss@example.com", password="pw-Secret-123")


@pytest.fixture
def staff_client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def url(name: str, *args) -> str:
    return reverse(f"admin:billing_{name}", args=args)


def test_it_links_the_grant_and_adjust_tools_from_the_account_page(staff_client, user):
    response = staff_client.get(url("creditaccount_change", user.pk))

    assert response.status_code == 200
    assert url("creditaccount_grant", user.pk) in response.text
    assert url("creditaccount_adjust", user.pk) in response.text
    assert "alice@example.com" in response.text
    for tool in ("grant", "adjust"):
        form = staff_client.get(url(f"creditaccount_{tool}", user.pk))
        assert form.status_code == 200
        assert 'name="amount"' in form.text and "Current balance: <strong>100</strong>" in form.text


def test_it_lists_accounts_with_their_balance(staff_client, user, other_user):
    response = staff_client.get(url("creditaccount_changelist"), {"q": "alice"})

    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert '<td class="field-balance">100</td>' in response.text


def test_it_grants_expiring_credits_recording_the_staff_member(staff_client, staff, user):
    expires_at = (timezone.now() + timedelta(days=30)).replace(microsecond=0)

    response = staff_client.post(
        url("creditaccount_grant", user.pk),
        {
            "amount": "40",
            "expires_at_0": expires_at.strftime("%Y-%m-%d"),
            "expires_at_1": expires_at.strftime("%H:%M:%S"),
            "source": "promo",
            "note": "Launch promo",
        },
        follow=True,
    )

    assert response.redirect_chain == [(url("creditaccount_change", user.pk), 302)]
    batch = CreditBatch.objects.filter(account_id=user.pk).latest("id")
    assert (batch.amount, batch.expires_at, batch.source, batch.granted_by, batch.note) == (
        40, expires_at, "promo", staff, "Launch promo"
    )
    entry = LedgerEntry.objects.get(batch=batch)
    assert (entry.kind, entry.amount, entry.actor) == ("grant", 40, staff)
    assert "Granted 40 credits to alice@example.com" in response.text
    assert balance_get(user=user)["credits"] == 140


def test_it_grants_credits_that_never_expire_when_no_expiry_is_given(staff_client, staff, user):
    response = staff_client.post(
        url("creditaccount_grant", user.pk),
        {"amount": "5", "expires_at_0": "", "expires_at_1": "", "source": "grant", "note": ""},
    )

    assert response.status_code == 302
    batch = CreditBatch.objects.filter(account_id=user.pk).latest("id")
    assert (batch.amount, batch.expires_at, batch.granted_by) == (5, None, staff)


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"amount": "0", "source": "grant"}, "greater than or equal to 1"),
        ({"amount": "3000000000", "source": "grant"}, "less than or equal to 1000000000"),
        ({"amount": "5", "source": "adjustment"}, "Select a valid choice"),
        ({"amount": "5", "source": "refund"}, "Select a valid choice"),
        ({"amount": "5", "source": "grant", "expires_at_0": "2001-01-01", "expires_at_1": "00:00:00"}, "in the future"),
    ],
    ids=["zero", "too-many", "adjustment-source", "refund-source", "expiry-in-the-past"],
)
def test_it_shows_the_form_again_for_a_bad_grant_and_writes_nothing(staff_client, user, form, error):
    ledger_rows = LedgerEntry.objects.count()

    response = staff_client.post(url("creditaccount_grant", user.pk), form)

    assert response.status_code == 200
    assert error in response.text
    assert LedgerEntry.objects.count() == ledger_rows


def test_it_adjusts_down_and_up_recording_the_staff_member_and_reason(staff_client, staff, user):
    down = staff_client.post(url("creditaccount_adjust", user.pk), {"amount": "-30", "reason": "Chargeback #7"})
    up = staff_client.post(url("creditaccount_adjust", user.pk), {"amount": "12", "reason": "Outage credit"})

    assert (down.status_code, up.status_code) == (302, 302)
    adjustments = LedgerEntry.objects.filter(account_id=user.pk, kind="adjust").order_by("id")
    assert [(entry.amount, entry.actor, entry.note) for entry in adjustments] == [
        (-30, staff, "Chargeback #7"),
        (12, staff, "Outage credit"),
    ]
    assert balance_get(user=user)["credits"] == 82
    assert billing_audit() == []


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"amount": "5", "reason": ""}, "This field is required"),
        ({"amount": "0", "reason": "Oops"}, "must not be zero"),
        ({"amount": "-101", "reason": "Chargeback"}, "101 needed, 100 available"),
        ({"amount": "-3000000000", "reason": "Typo"}, "greater than or equal to -1000000000"),
    ],
    ids=["no-reason", "zero", "more-than-the-balance", "too-many"],
)
def test_it_shows_the_form_again_for_a_bad_adjustment_and_writes_nothing(staff_client, user, form, error):
    ledger_rows = LedgerEntry.objects.count()

    response = staff_client.post(url("creditaccount_adjust", user.pk), form)

    assert response.status_code == 200
    assert error in response.text
    assert LedgerEntry.objects.count() == ledger_rows


def test_it_changes_the_account_type(staff_client, user):
    response = staff_client.post(url("creditaccount_change", user.pk), {"account_type": "ENTERPRISE", "_save": "Save"})

    assert response.status_code == 302
    assert CreditAccount.objects.get(pk=user.pk).account_type == "ENTERPRISE"


def clerk_with(*codenames: str) -> Client:
    clerk = User.objects.create_user(email="clerk@example.com", password="pw-Secret-123", is_staff=True)
    clerk.user_permissions.add(*Permission.objects.filter(content_type__app_label="billing", codename__in=codenames))
    client = Client()
    client.force_login(clerk)
    return client


def test_it_forbids_the_credit_tools_to_staff_who_may_only_view_or_change_the_account(user):
    client = clerk_with("view_creditaccount", "change_creditaccount")

    page = client.get(url("creditaccount_change", user.pk))
    grant = client.post(url("creditaccount_grant", user.pk), {"amount": "1000", "source": "grant"})
    adjust = client.post(url("creditaccount_adjust", user.pk), {"amount": "1000", "reason": "Me"})

    assert page.status_code == 200
    assert url("creditaccount_grant", user.pk) not in page.text
    assert url("creditaccount_adjust", user.pk) not in page.text
    assert (grant.status_code, adjust.status_code) == (403, 403)
    assert balance_get(user=user)["credits"] == 100
    assert not LedgerEntry.objects.filter(kind__in=["adjust"]).exists()


def test_it_lets_staff_grant_but_not_adjust_with_only_the_grant_permission(user):
    client = clerk_with("view_creditaccount", "grant_credits")

    page = client.get(url("creditaccount_change", user.pk))
    grant = client.post(url("creditaccount_grant", user.pk), {"amount": "7", "source": "grant"})
    adjust = client.post(url("creditaccount_adjust", user.pk), {"amount": "-50", "reason": "Me"})

    assert url("creditaccount_grant", user.pk) in page.text
    assert url("creditaccount_adjust", user.pk) not in page.text
    assert (grant.status_code, adjust.status_code) == (302, 403)
    assert balance_get(user=user)["credits"] == 107
    assert LedgerEntry.objects.filter(account_id=user.pk).latest("id").actor.email == "clerk@example.com"


@pytest.mark.parametrize("model", ["ledgerentry", "creditbatch"])
def test_it_lets_nobody_add_change_or_delete_batches_or_ledger_rows(staff_client, user, model):
    row = (LedgerEntry if model == "ledgerentry" else CreditBatch).objects.get(account_id=user.pk)

    assert staff_client.get(url(f"{model}_add")).status_code == 403
    assert staff_client.post(url(f"{model}_change", row.pk), {"amount": "1000", "note": "x"}).status_code == 403
    assert staff_client.get(url(f"{model}_delete", row.pk)).status_code == 403
    assert staff_client.post(url(f"{model}_delete", row.pk), {"post": "yes"}).status_code == 403
    bulk_delete = {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    staff_client.post(url(f"{model}_changelist"), bulk_delete)

    view = staff_client.get(url(f"{model}_change", row.pk))
    assert view.status_code == 200  # staff may read a row, never save it
    assert 'name="_save"' not in view.text
    assert "delete_selected" not in staff_client.get(url(f"{model}_changelist")).text
    row.refresh_from_db()
    assert row.amount == 100


def test_it_finds_ledger_rows_and_batches_by_user_email(staff_client, user, other_user):
    for model in ("ledgerentry", "creditbatch"):
        response = staff_client.get(url(f"{model}_changelist"), {"q": "mallory"})
        assert response.status_code == 200
        assert response.context["cl"].result_count == 1
        assert "mallory@example.com" in response.text and "alice@example.com" not in response.text
