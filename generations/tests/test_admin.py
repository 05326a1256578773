"""The generations admin: records of money spent, read-only; "Fail and refund" needs its own permission."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.models import User
from billing.models import LedgerEntry
from billing.selectors import balance_get, billing_audit
from generations.models import Generation
from generations.tests.conftest import submit_async

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("empty_queue", "generation_files_cleanup"),
]

CHANGELIST = "/admin/generations/generation/"


def staff_client(email: str, *codenames: str) -> tuple[User, Client]:
    staff = User.objects.create_user(email=email, password="pw-Secret-123", is_staff=True)
    permissions = Permission.objects.filter(content_type__app_label="generations", codename__in=codenames)
    staff.user_permissions.add(*permissions)
    client = Client()
    client.force_login(staff)
    return staff, client


def fail_and_refund(client: Client, *generation_ids: str):
    return client.post(
        CHANGELIST, {"action": "fail_and_refund", "_selected_action": list(generation_ids)}, follow=True
    )


def test_it_does_not_let_a_view_only_staff_user_fail_and_refund(api, user):
    queued = submit_async(api)["id"]
    _, viewer = staff_client("viewer@example.com", "view_generation")

    assert viewer.get(CHANGELIST).status_code == 200
    assert "fail_and_refund" not in viewer.get(CHANGELIST).content.decode()
    fail_and_refund(viewer, queued)

    generation = Generation.objects.get(pk=queued)
    assert generation.status == Generation.Status.QUEUED
    assert not LedgerEntry.objects.filter(generation=generation, kind="refund").exists()
    assert balance_get(user=user)["credits"] == 100 - generation.credits_charged


def test_it_fails_and_refunds_with_the_permission_recording_the_staff_member_on_the_ledger(api, user):
    queued = submit_async(api, n=2)["id"]
    support, client = staff_client("support@example.com", "view_generation", "fail_generation")

    response = fail_and_refund(client, queued)

    assert "Failed and refunded 1 generation(s)" in response.content.decode()
    generation = Generation.objects.get(pk=queued)
    assert (generation.status, generation.error_code) == (Generation.Status.FAILED, "staff_failed")
    refunds = LedgerEntry.objects.filter(generation=generation, kind="refund")
    assert sum(entry.amount for entry in refunds) == generation.credits_charged > 0
    assert {entry.actor for entry in refunds} == {support}
    assert balance_get(user=user)["credits"] == 100
    assert billing_audit() == []
