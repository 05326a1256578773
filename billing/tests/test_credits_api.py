"""GET /api/v1/credits: who may ask, and what the balance object says."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import api_key_create, api_key_revoke
from billing.api_key_loaders import api_key_with_balance
from billing.locking import lock_usable_batches
from billing.selectors import balance_get, usable_batch_rows, usable_batches
from billing.services import credits_grant
from billing.tests.factories import charge, frozen_clock, make_generation

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
        "livemode": True,
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


def test_it_reads_the_key_and_the_balance_in_one_query(api, issued_key):
    assert api.get(URL).status_code == 200  # records the key's first use (an UPDATE)

    with CaptureQueriesContext(connection) as queries:
        response = api.get(URL)

    assert response.status_code == 200
    assert len(queries.captured_queries) == 1


def test_its_one_query_agrees_with_the_orm_balance_on_every_kind_of_batch(user, issued_key):
    """The raw-SQL reads (api_key_with_balance, usable_batch_rows) must say what the ORM says."""
    now = timezone.now().replace(microsecond=0)
    with frozen_clock(now) as clock:
        used_up = credits_grant(user=user, amount=2, expires_at=now + timedelta(days=9))
        charge(user=user, amount=2, generation=make_generation(user, credits_per_image=2))  # takes used_up
        credits_grant(user=user, amount=3, expires_at=now + timedelta(hours=1))  # will have expired
        tie_a = credits_grant(user=user, amount=4, expires_at=now + timedelta(days=2), source="promo")
        tie_b = credits_grant(user=user, amount=6, expires_at=now + timedelta(days=2))
        for day in range(3, 15):  # more expiring batches than the response lists
            credits_grant(user=user, amount=day, expires_at=now + timedelta(days=day, minutes=day))
        credits_grant(user=user, amount=1000)  # never expires
        clock.advance(timedelta(hours=2))

        orm_rows = list(usable_batches(user.pk, timezone.now()).values_list("id", "remaining", "expires_at", "source"))
        raw_rows = usable_batch_rows(user.pk, timezone.now())
        locked_rows, charged = lock_usable_batches(user.pk, timezone.now())  # what a charge takes from
        expected = balance_get(user=user)
        found = api_key_with_balance(issued_key.api_key.prefix, now=timezone.now())
        response = client_with(issued_key.raw_key).get(URL).json()

    assert [tuple(row) for row in raw_rows] == orm_rows  # the generation path's raw read: the ORM's rows
    assert [tuple(row) for row in locked_rows] == [row[:2] for row in orm_rows] and not charged
    assert found.balance == expected
    assert response == {"object": "credit_balance", "livemode": True, **expected}
    listed = [batch["id"] for batch in expected["expiring_batches"]]
    assert used_up.pk not in listed and listed[:2] == [tie_a.pk, tie_b.pk] and len(listed) == 10
    assert expected["credits"] == 100 + 4 + 6 + sum(range(3, 15)) + 1000
    assert expected["next_expiration"] == {"credits": 10, "expires_at": iso(tie_a.expires_at)}


def test_it_answers_a_user_without_batches_or_credit_account(make_user):
    from billing.models import CreditAccount

    user = make_user()
    CreditAccount.objects.filter(user=user).delete()
    issued = api_key_create(user=user)

    response = client_with(issued.raw_key).get(URL)

    assert response.status_code == 200
    assert response.json() == {
        "object": "credit_balance", "livemode": True, "credits": 0, "account_type": "FREE", "next_expiration": None,
        "expiring_batches": [],
    }


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_it_allows_only_get(api, method):
    response = getattr(api, method)(URL)

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, HEAD"


def test_it_answers_head_like_get_without_a_body(api):
    response = api.head(URL)

    assert response.status_code == 200 and response.content == b""
