"""Test keys in the account area and the ops command: created apart, shown apart, found by either prefix."""

import re

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.urls import reverse

from accounts import keys
from accounts.models import ApiKey
from accounts.services import api_key_create, api_key_find
from generations.services import generation_request

pytestmark = pytest.mark.django_db

TEST_KEY_PATTERN = r"gih_test_[A-Za-z0-9]{32}"
BODY = {"model": "gpt-image-2", "aspect_ratio": "1:1", "quality": "1K", "n": 1}


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IMAGE_PROVIDER = "local"
    cache.clear()


@pytest.fixture
def alice_client(client, user):
    client.force_login(user)
    return client


def _generate(user, prompt: str, api_key=None):
    return generation_request(user=user, data={**BODY, "prompt": prompt}, files=[], api_key=api_key).generation


def _form_token(client) -> str:
    page = client.get(reverse("accounts:keys")).content.decode()
    return re.search(r'name="form_token" value="([^"]+)"', page).group(1)


def test_the_keys_page_creates_a_test_key(alice_client, user):
    response = alice_client.post(
        reverse("accounts:key_create"), {"name": "sandbox", "form_token": _form_token(alice_client), "mode": "test"}
    )

    assert response.status_code == 200
    raw_key = re.search(TEST_KEY_PATTERN, response.content.decode()).group(0)
    key = ApiKey.objects.get(user=user)
    assert (key.mode, key.livemode, key.display_prefix) == ("test", False, f"gih_test_{key.prefix}…")
    assert raw_key.startswith(key.display_prefix.rstrip("…"))
    assert "Your new test key" in response.content.decode()
    listed = alice_client.get(reverse("accounts:keys")).content.decode()
    assert key.display_prefix in listed
    assert 'data-testid="create-test-key"' in listed


def test_the_plain_create_button_still_creates_a_live_key(alice_client, user):
    response = alice_client.post(
        reverse("accounts:key_create"), {"name": "prod", "form_token": _form_token(alice_client)}
    )

    assert re.search(r"gih_live_[A-Za-z0-9]{32}", response.content.decode())
    assert ApiKey.objects.get(user=user).mode == "live"


def test_the_generations_page_shows_live_and_test_data_apart(alice_client, user):
    test_key = api_key_create(user=user, mode=ApiKey.Mode.TEST).api_key
    live = _generate(user, "A live lighthouse")
    test = _generate(user, "A test windmill", api_key=test_key)

    live_page = alice_client.get(reverse("accounts:generations")).content.decode()
    test_page = alice_client.get(reverse("accounts:generations") + "?mode=test").content.decode()

    assert live.pk in live_page and test.pk not in live_page
    assert test.pk in test_page and live.pk not in test_page
    assert 'data-testid="test-data-note"' in test_page and 'data-testid="test-data-note"' not in live_page
    # Filtering keeps the mode (a hidden field of the filter form).
    filtered = alice_client.get(reverse("accounts:generations") + "?mode=test&status=succeeded").content.decode()
    assert test.pk in filtered and live.pk not in filtered
    assert 'name="mode" value="test"' in filtered


def test_the_dashboard_toggles_between_live_and_test_generations(alice_client, user):
    test_key = api_key_create(user=user, mode=ApiKey.Mode.TEST).api_key
    live = _generate(user, "A live lighthouse")
    test = _generate(user, "A test windmill", api_key=test_key)

    live_home = alice_client.get(reverse("accounts:home")).content.decode()
    test_home = alice_client.get(reverse("accounts:home") + "?mode=test").content.decode()

    assert live.pk in live_home and test.pk not in live_home
    assert test.pk in test_home and live.pk not in test_home
    assert 'data-testid="mode-toggle"' in live_home
    # A test generation is free: the test view's usage card counts it and no credits.
    assert re.search(r'data-testid="usage-spent"><strong>0</strong>', test_home)
    assert re.search(r'data-testid="usage-spent"><strong>[1-9]', live_home)


def test_a_test_generation_s_page_says_so(alice_client, user):
    test = _generate(user, "A test windmill", api_key=api_key_create(user=user, mode=ApiKey.Mode.TEST).api_key)

    page = alice_client.get(reverse("accounts:generation_detail", args=[test.pk])).content.decode()

    assert 'class="badge badge-test"' in page
    assert "?mode=test" in page


def test_the_command_issues_a_test_key_that_authenticates(client, user, capsys):
    call_command("create_api_key", user.email, "--test", "--name", "sandbox")
    captured = capsys.readouterr()

    assert re.fullmatch(TEST_KEY_PATTERN + "\n", captured.out)
    raw_key = captured.out.strip()
    assert "Created test key gih_test_" in captured.err
    response = client.get("/api/v1/credits", HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert response.status_code == 200
    assert (response.json()["livemode"], response.json()["credits"]) == (False, 100)


def test_a_test_key_s_secret_behind_the_live_marker_does_not_authenticate(client, user):
    issued = api_key_create(user=user, mode=ApiKey.Mode.TEST)
    swapped = keys.KEY_PREFIX + issued.raw_key.removeprefix(keys.TEST_KEY_PREFIX)

    response = client.get("/api/v1/credits", HTTP_AUTHORIZATION=f"Bearer {swapped}")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalidApiKey"


def test_staff_find_a_test_key_by_any_of_its_forms(user):
    issued = api_key_create(user=user, mode=ApiKey.Mode.TEST)
    key = issued.api_key

    assert api_key_find(key_or_prefix=issued.raw_key) == key
    assert api_key_find(key_or_prefix=key.display_prefix) == key
    assert api_key_find(key_or_prefix=key.prefix) == key
