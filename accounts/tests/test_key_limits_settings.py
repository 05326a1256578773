"""Where a key's limits are set: the API keys page (create and edit), the admin, and `create_api_key`."""

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from accounts.models import AccountTypeLimits, ApiKey
from accounts.services import api_key_create
from accounts.tests.test_views import create_key

LIMITS_FORM = {
    "rate_limit_per_minute": "30",
    "max_concurrent": "2",
    "spend_limit": "500",
    "spend_period": "day",
    "allowed_models": ["gpt-image-2"],
    "allowed_ips": "203.0.113.7, 2001:db8::/32\n10.0.0.0/8",
}


@pytest.fixture
def alice_client(client, user) -> Client:
    client.force_login(user)
    return client


def test_it_creates_a_key_with_its_limits_from_the_keys_page(alice_client, user):
    assert create_key(alice_client, **LIMITS_FORM).status_code == 200

    key = ApiKey.objects.get(user=user)
    assert (key.rate_limit_per_minute, key.max_concurrent, key.spend_limit, key.spend_period) == (30, 2, 500, "day")
    assert key.allowed_models == ["gpt-image-2"]
    assert key.allowed_ips == ["203.0.113.7/32", "2001:db8::/32", "10.0.0.0/8"]
    page = alice_client.get(reverse("accounts:keys")).content.decode()
    assert "30/min" in page and "2 at once" in page and "2001:db8::/32" in page


def test_it_creates_a_key_without_limits_when_the_part_is_left_alone(alice_client, user):
    assert create_key(alice_client).status_code == 200

    key = ApiKey.objects.get(user=user)
    assert (key.rate_limit_per_minute, key.max_concurrent, key.spend_limit) == (None, None, None)
    assert (key.allowed_models, key.allowed_ips, key.spend_period) == ([], [], "month")


def test_it_refuses_an_address_that_is_no_ip_and_creates_nothing(alice_client, user):
    response = create_key(alice_client, allowed_ips="203.0.113.7, office")

    assert "“office” is not an IP address or CIDR range." in response.content.decode()
    assert not ApiKey.objects.filter(user=user).exists()


def test_it_edits_a_keys_limits_and_shows_the_ones_in_force(alice_client, user):
    AccountTypeLimits.objects.create(account_type="PRO", rate_limit_per_minute=10)
    key = api_key_create(user=user, name="shop", limits={"allowed_ips": ["192.0.2.1"]}).api_key
    url = reverse("accounts:key_limits", kwargs={"key_id": key.pk})

    page = alice_client.get(url).content.decode()
    assert "192.0.2.1/32" in page  # the current values fill the form
    assert "0 / 10" in page  # requests this minute, capped by the account type's default

    response = alice_client.post(url, {**LIMITS_FORM, "allowed_ips": "", "rate_limit_per_minute": ""})

    assert response.status_code == 302
    key.refresh_from_db()
    assert (key.rate_limit_per_minute, key.max_concurrent, key.allowed_ips) == (None, 2, [])


def test_it_edits_only_the_users_own_keys(alice_client, other_user):
    theirs = api_key_create(user=other_user).api_key
    url = reverse("accounts:key_limits", kwargs={"key_id": theirs.pk})

    assert alice_client.get(url).status_code == 404
    assert alice_client.post(url, LIMITS_FORM).status_code == 404
    theirs.refresh_from_db()
    assert theirs.max_concurrent is None


@pytest.fixture
def staff_client(client, make_user):
    admin = make_user("root@example.com", is_staff=True)
    admin.is_superuser = True
    admin.save(update_fields=["is_superuser"])
    client.force_login(admin)
    return client


def test_staff_set_a_keys_limits_and_account_type_defaults_in_the_admin(staff_client, user, issued_key):
    key = issued_key.api_key
    response = staff_client.post(
        f"/admin/accounts/apikey/{key.pk}/change/",
        {
            "name": key.name,
            "max_concurrent": "3",
            "spend_limit": "",
            "spend_period": "total",
            "allowed_models": '["gpt-image-2"]',
            "allowed_ips": '["198.51.100.0/24"]',
        },
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert (key.max_concurrent, key.spend_period, key.allowed_ips) == (3, "total", ["198.51.100.0/24"])

    refused = staff_client.post(
        f"/admin/accounts/apikey/{key.pk}/change/", {"name": key.name, "allowed_ips": '["not-an-ip"]'}
    )
    assert refused.status_code == 200 and "is not an IP address or CIDR range" in refused.content.decode()

    added = staff_client.post(
        "/admin/accounts/accounttypelimits/add/",
        {"account_type": "FREE", "rate_limit_per_minute": "5", "spend_period": "month", "allowed_models": "[]"},
    )
    assert added.status_code == 302
    assert AccountTypeLimits.objects.get(account_type="FREE").rate_limit_per_minute == 5


def test_staff_create_a_key_with_limits_in_the_admin(staff_client, user):
    response = staff_client.post(
        "/admin/accounts/apikey/add/", {"user": user.pk, "name": "limited", "rate_limit_per_minute": "7"}
    )

    assert response.status_code == 200  # the page that shows the key once
    assert ApiKey.objects.get(name="limited").rate_limit_per_minute == 7


def test_the_command_creates_a_key_with_every_limit(user, capsys):
    call_command(
        "create_api_key",
        user.email,
        "--rate-limit-per-minute",
        "60",
        "--max-concurrent",
        "4",
        "--spend-limit",
        "1000",
        "--spend-period",
        "month",
        "--models",
        "gpt-image-2",
        "--ips",
        "203.0.113.0/24,2001:db8::1",
    )
    output = capsys.readouterr()

    key = ApiKey.objects.get(user=user)
    assert (key.rate_limit_per_minute, key.max_concurrent, key.spend_limit, key.spend_period) == (60, 4, 1000, "month")
    assert (key.allowed_models, key.allowed_ips) == (["gpt-image-2"], ["203.0.113.0/24", "2001:db8::1/128"])
    assert output.out.strip().startswith("gih_live_")
    assert "rate_limit_per_minute=60" in output.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ips", "10.0.0.0/8,office"], "'office' is not an IP address or CIDR range."),
        (["--models", "dall-e-9"], "--models: no model dall-e-9 in the catalogue."),
        (["--max-concurrent", "-1"], "max_concurrent: a whole number of at least 0"),
    ],
)
def test_the_command_refuses_a_bad_limit_and_creates_nothing(user, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_api_key", user.email, *args)
    assert not ApiKey.objects.filter(user=user).exists()
