"""GET /api/v1/credits: who may ask, and what the balance object says."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import api_key_create, api_key_revoke
from billing.services import credits_grant
from billing.tests.factories import frozen_clock

pytestmark = pytest.mark.django_db

URL = "/api/v1/credits"


def client_with(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def iso(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


def assert_401(response, code: str) -> None:
    body = response.json()
    assert response.status_code == 401
    assert list(body) == ["error"] and sorted(body["error"]) == ["code", "message"]
    assert body["error"]["code"] == code and body["error"]["message"]
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_it_rejects_a_request_without_a_key(anon_api):
    assert_401(anon_api.get(URL), "missingApiKey")


def test_it_rejects_a_malformed_authorization_header(anon_api):
    anon_api.credentials(HTTP_AUTHORIZATION="Token abc")
    assert_401(anon_api.get(URL), "missingApiKey")


@pytest.mark.parametrize("raw_key", ["gih_live_" + "A" * 32, "not-a-key"], ids=["unknown", "garbage"])
def test_it_rejects_a_key_it_does_not_know(user, raw_key):
    assert_401(client_with(raw_key).get(URL), "invalidApiKey")


def test_it_rejects_a_revoked_key(issued_key):
    api_key_revoke(api_key=issued_key.api_key)
    assert_401(client_with(issued_key.raw_key).get(URL), "invalidApiKey")


def test_it_rejects_an_expired_key(user):
    issued = api_key_create(user=user, expires_at=timezone.now() - timedelta(seconds=1))
    assert_401(client_with(issued.raw_key).get(URL), "expiredApiKey")


def test_it_returns_the_balance_object(api):
    response = api.get(URL)

    assert response.status_code == 200
    assert response.json() == {
        "object": "credit_balance",
        "credits": 100,
        "account_type": "PRO",
        "next_expiration": None,
        "expiring_batches": [],
    }


def test_it_shows_the_next_expiration_until_its_exact_second(api, user):
    now = timezone.now().replace(microsecond=0)
    with frozen_clock(now) as clock:
        soon = credits_grant(user=user, amount=30, expires_at=now + timedelta(days=1), source="promo")
        later = credits_grant(user=user, amount=5, expires_at=now + timedelta(days=2))

        clock.now = soon.expires_at - timedelta(seconds=1)
        before = api.get(URL).json()
        clock.now = soon.expires_at
        at_the_second = api.get(URL).json()

    assert before["credits"] == 135
    assert before["next_expiration"] == {"credits": 30, "expires_at": iso(soon.expires_at)}
    assert before["expiring_batches"] == [
        {"id": soon.pk, "credits": 30, "expires_at": iso(soon.expires_at), "source": "promo"},
        {"id": later.pk, "credits": 5, "expires_at": iso(later.expires_at), "source": "grant"},
    ]
    assert at_the_second["credits"] == 105
    assert at_the_second["next_expiration"] == {"credits": 5, "expires_at": iso(later.expires_at)}
    assert [batch["id"] for batch in at_the_second["expiring_batches"]] == [later.pk]


def test_it_never_shows_another_users_credits(api, user, other_user):
    theirs = credits_grant(user=other_user, amount=7, expires_at=timezone.now() + timedelta(days=1))
    their_key = api_key_create(user=other_user)

    mine = api.get(URL).json()
    their_view = client_with(their_key.raw_key).get(URL).json()

    assert (mine["credits"], mine["account_type"], mine["next_expiration"], mine["expiring_batches"]) == (
        100, "PRO", None, []
    )
    assert (their_view["credits"], their_view["account_type"]) == (107, "FREE")
    assert [batch["id"] for batch in their_view["expiring_batches"]] == [theirs.pk]
