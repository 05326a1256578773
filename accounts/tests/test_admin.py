"""The staff admin for users and API keys: email-only users, keys shown once, digests never."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.contrib.sessions.models import Session
from django.utils import timezone

from accounts.models import ApiKey, User
from accounts.services import api_key_create, api_key_revoke

KEYS_URL = "/admin/accounts/apikey/"
USERS_URL = "/admin/accounts/user/"
KEY_PATTERN = r"gih_live_[A-Za-z0-9]{32}"


@pytest.fixture
def staff_client(client, make_user):
    admin = make_user("root@example.com", is_staff=True)
    admin.is_superuser = True
    admin.save(update_fields=["is_superuser"])
    client.force_login(admin)
    return client


def test_it_lists_users_by_email_with_their_key_count(staff_client, user, other_user, issued_key):
    api_key_create(user=user, name="second")

    response = staff_client.get(USERS_URL)

    assert response.status_code == 200
    rows = {row.email: row.key_count for row in response.context["cl"].result_list}
    assert rows["alice@example.com"] == 2
    assert rows["mallory@example.com"] == 0


def test_it_searches_users_by_email(staff_client, user, other_user):
    response = staff_client.get(USERS_URL, {"q": "mallory"})

    assert [row.email for row in response.context["cl"].result_list] == ["mallory@example.com"]


def test_it_adds_a_user_without_a_username(staff_client):
    response = staff_client.post(
        f"{USERS_URL}add/",
        {"email": "New.Person@Example.com", "usable_password": "true", "password1": "pw-Secret-789",
         "password2": "pw-Secret-789"},
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(email="new.person@example.com")
    assert user.check_password("pw-Secret-789")


def test_it_refuses_a_second_account_for_the_same_address(staff_client, user):
    response = staff_client.post(
        f"{USERS_URL}add/", {"email": "ALICE@example.com", "usable_password": "false"}
    )

    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1


def test_it_shows_a_users_keys_without_their_digests(staff_client, user, issued_key):
    response = staff_client.get(f"{USERS_URL}{user.pk}/change/")

    content = response.content.decode()
    assert response.status_code == 200
    assert issued_key.api_key.display_prefix in content
    assert issued_key.api_key.digest not in content


def test_it_edits_a_user(staff_client, user):
    response = staff_client.post(
        f"{USERS_URL}{user.pk}/change/",
        {
            "email": "alice@example.com", "first_name": "Alice", "last_name": "", "is_active": "on",
            "date_joined_0": "2030-01-01", "date_joined_1": "00:00:00",
            "api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert user.first_name == "Alice"
    assert user.check_password("pw-Secret-123")


def test_it_lists_keys_without_their_digests(staff_client, issued_key):
    response = staff_client.get(KEYS_URL)

    content = response.content.decode()
    assert response.status_code == 200
    assert issued_key.api_key.display_prefix in content
    assert "alice@example.com" in content
    assert issued_key.api_key.digest not in content


def test_it_never_shows_a_digest_on_the_key_page(staff_client, issued_key):
    response = staff_client.get(f"{KEYS_URL}{issued_key.api_key.pk}/change/")

    assert response.status_code == 200
    assert issued_key.api_key.digest not in response.content.decode()
    assert "digest" not in response.context["adminform"].form.fields


@pytest.mark.parametrize("term", ["PREFIX", "gih_live_PREFIX…", "mallory@"])
def test_it_searches_keys_by_prefix_and_email(staff_client, issued_key, other_user, term):
    other = api_key_create(user=other_user)
    wanted = other if term == "mallory@" else issued_key

    response = staff_client.get(KEYS_URL, {"q": term.replace("PREFIX", wanted.api_key.prefix)})

    assert list(response.context["cl"].result_list) == [wanted.api_key]


@pytest.mark.parametrize("status", ["active", "expired", "revoked"])
def test_it_filters_keys_by_status(staff_client, user, status):
    keys = {
        "active": api_key_create(user=user, name="active").api_key,
        "expired": api_key_create(user=user, name="expired", expires_at=timezone.now() - timedelta(days=1)).api_key,
        "revoked": api_key_revoke(api_key=api_key_create(user=user, name="revoked").api_key),
    }

    response = staff_client.get(KEYS_URL, {"status": status})

    assert list(response.context["cl"].result_list) == [keys[status]]


def test_it_creates_a_key_and_shows_it_once_on_its_own_page(staff_client, anon_api, user, columns_containing):
    created = staff_client.post(f"{KEYS_URL}add/", {"user": user.pk, "name": "from admin"})
    api_key = ApiKey.objects.get(user=user, name="from admin")

    # Shown in the response to the form itself: no redirect, so nothing carries it to another page.
    assert created.status_code == 200
    assert "Location" not in created
    assert "no-store" in created["Cache-Control"]
    raw_keys = re.findall(KEY_PATTERN, created.content.decode())
    assert len(set(raw_keys)) == 1
    secret = raw_keys[0].removeprefix("gih_live_")
    assert secret[:8] == api_key.prefix
    assert api_key.digest not in created.content.decode()
    assert anon_api.get("/api/v1/credits", HTTP_AUTHORIZATION=f"Bearer {raw_keys[0]}").status_code == 200

    # Not in the messages cookie, the session, the admin's history or anywhere else in the database.
    assert list(get_messages(created.wsgi_request)) == []
    assert all(secret not in morsel.value for morsel in created.cookies.values())
    assert all(secret not in morsel.value for morsel in staff_client.cookies.values())
    assert columns_containing(secret) == []
    assert not any(secret in str(session.get_decoded()) for session in Session.objects.all())  # stored compressed

    for page in (f"{KEYS_URL}", f"{KEYS_URL}{api_key.pk}/change/"):
        assert secret not in staff_client.get(page).content.decode()


def test_it_keeps_a_key_read_only_but_its_name(staff_client, issued_key, other_user):
    api_key = issued_key.api_key
    response = staff_client.post(
        f"{KEYS_URL}{api_key.pk}/change/",
        {"name": "renamed", "user": other_user.pk, "revoked_at_0": "2030-01-01", "revoked_at_1": "00:00:00"},
    )

    assert response.status_code == 302
    api_key.refresh_from_db()
    assert api_key.name == "renamed"
    assert api_key.user_id == issued_key.api_key.user_id
    assert api_key.revoked_at is None


def test_it_revokes_the_selected_keys(staff_client, anon_api, user, issued_key):
    kept = api_key_create(user=user, name="kept")
    earlier = api_key_revoke(api_key=api_key_create(user=user, name="earlier").api_key)

    response = staff_client.post(
        KEYS_URL,
        {"action": "revoke_selected", "_selected_action": [issued_key.api_key.pk, earlier.pk]},
    )

    assert response.status_code == 302
    issued_key.api_key.refresh_from_db()
    kept.api_key.refresh_from_db()
    assert issued_key.api_key.revoked_at is not None
    assert kept.api_key.revoked_at is None
    assert ApiKey.objects.get(pk=earlier.pk).revoked_at == earlier.revoked_at
    assert anon_api.get("/api/v1/credits", HTTP_AUTHORIZATION=f"Bearer {issued_key.raw_key}").status_code == 401
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Revoked 1 API key(s)."]
