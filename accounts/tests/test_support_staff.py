"""`create_user --staff` makes a support login that can work: the "Support staff" group and its least privileges."""

from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from accounts.staff import SUPPORT_STAFF_GROUP, SUPPORT_STAFF_PERMISSIONS

PASSWORD = "Support-Desk-Pass-91"


@pytest.fixture
def support_client(db, user) -> Client:
    """A staff login made the documented way, signed in through the admin's own log-in page."""
    out = StringIO()
    call_command("create_user", "desk@example.com", "--password", PASSWORD, "--staff", stdout=out)
    assert "Support staff" in out.getvalue()
    client = Client()
    response = client.post("/admin/login/", {"username": "desk@example.com", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302, response.content.decode()
    return client


def test_it_puts_a_staff_user_made_by_create_user_in_the_support_staff_group(support_client):
    desk = User.objects.get(email="desk@example.com")

    assert desk.is_staff and not desk.is_superuser
    assert list(desk.groups.values_list("name", flat=True)) == [SUPPORT_STAFF_GROUP]
    assert desk.get_all_permissions() == set(SUPPORT_STAFF_PERMISSIONS)


def test_it_lets_support_staff_open_the_admins_credit_pages(support_client, user):
    index = support_client.get("/admin/")
    assert index.status_code == 200
    for model in ("Credit accounts", "Credit batches", "Ledger entries", "Generations", "Users", "API keys"):
        assert model in index.content.decode()

    for page in (
        "/admin/billing/creditaccount/",
        f"/admin/billing/creditaccount/{user.pk}/change/",
        "/admin/billing/creditbatch/",
        "/admin/billing/ledgerentry/",
        f"/admin/billing/ledgerentry/?account__exact={user.pk}",
        "/admin/generations/generation/",
        "/admin/accounts/user/",
        f"/admin/accounts/user/{user.pk}/change/",
        "/admin/accounts/apikey/",
        f"/admin/billing/creditaccount/{user.pk}/grant/",
    ):
        assert support_client.get(page).status_code == 200, page


def test_it_keeps_support_staff_to_least_privilege(support_client, user):
    account_page = support_client.get(f"/admin/billing/creditaccount/{user.pk}/change/").content.decode()

    assert f"/admin/billing/creditaccount/{user.pk}/grant/" in account_page
    assert f"/admin/billing/creditaccount/{user.pk}/adjust/" not in account_page
    assert support_client.get(f"/admin/billing/creditaccount/{user.pk}/adjust/").status_code == 403
    assert support_client.post(f"/admin/accounts/user/{user.pk}/change/", {"email": "x@example.com"}).status_code == 403
    assert support_client.get("/admin/accounts/user/add/").status_code == 403
    assert support_client.get("/admin/generations/imagemodel/add/").status_code == 403
    assert support_client.get("/admin/auth/group/").status_code == 403


def test_its_migration_creates_the_group_with_the_support_permissions(db):
    migration = __import__("importlib").import_module("accounts.migrations.0004_support_staff_group")
    Group.objects.filter(name=SUPPORT_STAFF_GROUP).delete()

    migration.create_support_staff_group(apps, None)

    group = Group.objects.get(name=SUPPORT_STAFF_GROUP)
    granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
    assert granted == set(SUPPORT_STAFF_PERMISSIONS)


def test_it_keeps_an_administrators_changes_to_the_group(db, make_user):
    make_user("first@example.com", is_staff=True)
    group = Group.objects.get(name=SUPPORT_STAFF_GROUP)
    group.permissions.clear()

    second = make_user("second@example.com", is_staff=True)

    assert list(second.groups.all()) == [group]
    assert second.get_all_permissions() == set()
