"""API keys: format, storage (digest only), revocation, expiry and last-use bookkeeping."""

import hashlib
import hmac
import re
from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services import ApiKeyRejected, api_key_authenticate, api_key_create, api_key_revoke

CREDITS_URL = "/api/v1/credits"


def get_credits(client, raw_key: str):
    return client.get(CREDITS_URL, HTTP_AUTHORIZATION=f"Bearer {raw_key}")


def apikey_updates(queries) -> list[str]:
    return [query["sql"] for query in queries if query["sql"].startswith('UPDATE "accounts_apikey"')]


def test_it_issues_keys_in_the_documented_format(user):
    first = api_key_create(user=user)
    second = api_key_create(user=user)

    for issued in (first, second):
        assert re.fullmatch(r"gih_live_[A-Za-z0-9]{32}", issued.raw_key)
        assert issued.api_key.prefix == issued.raw_key[len("gih_live_") :][:8]
        assert issued.api_key.display_prefix == f"gih_live_{issued.api_key.prefix}…"
    assert first.raw_key != second.raw_key
    assert first.api_key.prefix != second.api_key.prefix


def test_it_never_stores_a_key_issued_by_the_service(user, columns_containing):
    issued = api_key_create(user=user, name="service key")
    secret = issued.raw_key.removeprefix("gih_live_")

    # The search works: it finds what is meant to be stored.
    assert "accounts_apikey.prefix" in columns_containing(issued.api_key.prefix)
    assert "accounts_apikey.digest" in columns_containing(issued.api_key.digest)
    assert columns_containing(issued.raw_key) == []
    assert columns_containing(secret) == []
    assert columns_containing(secret[8:]) == []  # nothing beyond the lookup prefix either


def test_it_never_stores_a_key_issued_by_the_command(user, columns_containing, capsys):
    call_command("create_api_key", user.email, "--name", "ops key")
    raw_key = capsys.readouterr().out.strip()
    secret = raw_key.removeprefix("gih_live_")

    assert ApiKey.objects.filter(user=user, name="ops key", prefix=secret[:8]).exists()
    assert columns_containing(raw_key) == []
    assert columns_containing(secret) == []
    assert columns_containing(secret[8:]) == []


def test_it_stores_a_keyed_hmac_of_the_key(issued_key, settings):
    raw_key = issued_key.raw_key
    expected = hmac.new(settings.API_KEY_PEPPER.encode(), raw_key.encode(), hashlib.sha256).hexdigest()

    assert issued_key.api_key.digest == expected
    assert issued_key.api_key.digest != hashlib.sha256(raw_key.encode()).hexdigest()


def test_it_refuses_every_key_once_the_pepper_changes(client, issued_key, settings):
    settings.API_KEY_PEPPER = "a-different-pepper-than-the-one-the-key-was-issued-with"

    response = get_credits(client, issued_key.raw_key)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalidApiKey"


def test_it_refuses_a_revoked_key(client, issued_key):
    assert get_credits(client, issued_key.raw_key).status_code == 200

    api_key_revoke(api_key=issued_key.api_key)
    response = get_credits(client, issued_key.raw_key)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalidApiKey"


def test_it_keeps_the_first_revocation_time(issued_key):
    first = api_key_revoke(api_key=issued_key.api_key).revoked_at
    ApiKey.objects.filter(pk=issued_key.api_key.pk).update(revoked_at=first - timedelta(hours=1))

    again = api_key_revoke(api_key=issued_key.api_key)

    assert again.revoked_at == first - timedelta(hours=1)


def test_it_revokes_only_the_key_it_is_given(client, user, issued_key):
    other = api_key_create(user=user, name="other")

    api_key_revoke(api_key=issued_key.api_key)

    assert get_credits(client, other.raw_key).status_code == 200


def test_it_refuses_an_expired_key(client, user):
    issued = api_key_create(user=user, expires_at=timezone.now() - timedelta(seconds=1))

    response = get_credits(client, issued.raw_key)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "expiredApiKey"


def test_it_accepts_a_key_until_its_expiry(client, user):
    issued = api_key_create(user=user, expires_at=timezone.now() + timedelta(minutes=5))

    assert get_credits(client, issued.raw_key).status_code == 200


def test_it_counts_a_key_expiring_at_exactly_now_as_expired(client, user):
    expires_at = timezone.now() + timedelta(hours=1)
    issued = api_key_create(user=user, expires_at=expires_at)
    assert not issued.api_key.is_expired(expires_at - timedelta(microseconds=1))
    assert issued.api_key.is_expired(expires_at)

    # The clock, not the code under test, is what is replaced here.
    with mock.patch("django.utils.timezone.now", return_value=expires_at):
        response = get_credits(client, issued.raw_key)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "expiredApiKey"


def test_it_records_last_use_at_most_once_a_minute(client, issued_key):
    api_key = issued_key.api_key
    assert api_key.last_used_at is None

    with CaptureQueriesContext(connection) as first:
        assert get_credits(client, issued_key.raw_key).status_code == 200
    api_key.refresh_from_db()
    first_use = api_key.last_used_at
    assert len(apikey_updates(first.captured_queries)) == 1
    assert first_use is not None

    with CaptureQueriesContext(connection) as again:
        for _ in range(3):
            assert get_credits(client, issued_key.raw_key).status_code == 200
    api_key.refresh_from_db()
    assert apikey_updates(again.captured_queries) == []
    assert api_key.last_used_at == first_use

    # A minute later the next use is recorded again.
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=first_use - timedelta(seconds=61))
    with CaptureQueriesContext(connection) as later:
        assert get_credits(client, issued_key.raw_key).status_code == 200
    api_key.refresh_from_db()
    assert len(apikey_updates(later.captured_queries)) == 1
    assert api_key.last_used_at >= first_use


def test_it_does_not_record_use_of_a_revoked_key(issued_key):
    api_key_revoke(api_key=issued_key.api_key)

    with pytest.raises(ApiKeyRejected) as rejected:
        api_key_authenticate(raw_key=issued_key.raw_key)
    assert rejected.value.code == "invalidApiKey"
    issued_key.api_key.refresh_from_db()
    assert issued_key.api_key.last_used_at is None


def test_it_names_an_unnamed_key_default(user):
    assert api_key_create(user=user, name="").api_key.name == "Default"
