"""Bearer authentication on the API: every documented 401, each in the error envelope."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.selectors import api_key_by_prefix
from accounts.services import api_key_create, api_key_revoke

CREDITS_URL = "/api/v1/credits"
UNKNOWN_KEY = "gih_live_" + "Zz9" * 10 + "Qq"  # well-formed, never issued


# /credits is a plain Django view with its own one-query key lookup; the others are DRF
# views behind ApiKeyAuthentication. Every rejection is checked on both.
PROTECTED_URLS = [CREDITS_URL, "/api/v1/generations/gen_0000000000000000"]


@pytest.fixture(params=PROTECTED_URLS, ids=["credits", "drf"])
def url(request) -> str:
    return request.param


def assert_401(response, code: str) -> None:
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    body = response.json()
    assert body == {"error": {"message": body["error"]["message"], "code": code}}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_it_rejects_a_request_without_an_authorization_header(url, client, issued_key):
    assert_401(client.get(url), "missingApiKey")


@pytest.mark.parametrize(
    "header",
    ["Basic YWxpY2VAZXhhbXBsZS5jb206cHctU2VjcmV0LTEyMw==", "Bearer", "Bearer ", "Token gih_live_x", ""],
)
def test_it_reports_a_missing_key_when_no_bearer_key_is_sent(url, client, issued_key, header):
    assert_401(client.get(url, HTTP_AUTHORIZATION=header), "missingApiKey")


def test_it_does_not_accept_a_bearer_key_under_another_scheme(url, client, issued_key):
    response = client.get(url, HTTP_AUTHORIZATION=f"Basic {issued_key.raw_key}")

    assert_401(response, "missingApiKey")


@pytest.mark.parametrize(
    "key",
    [
        UNKNOWN_KEY,
        "not-a-key",
        "gih_live_short",
        "gih_test_" + "a" * 32,
        "gih_live_" + "a" * 31 + "!",
        "gih_live_" + "a" * 33,
    ],
)
def test_it_rejects_unknown_and_malformed_keys(url, client, issued_key, key):
    assert_401(client.get(url, HTTP_AUTHORIZATION=f"Bearer {key}"), "invalidApiKey")


def test_it_rejects_a_key_that_shares_only_the_prefix_of_a_real_key(url, client, issued_key):
    raw_key = issued_key.raw_key
    last = "a" if raw_key[-1] != "a" else "b"
    forged = raw_key[:-1] + last  # same lookup prefix, wrong secret

    assert_401(client.get(url, HTTP_AUTHORIZATION=f"Bearer {forged}"), "invalidApiKey")


def test_it_rejects_a_revoked_key(url, client, issued_key):
    api_key_revoke(api_key=issued_key.api_key)

    assert_401(client.get(url, HTTP_AUTHORIZATION=f"Bearer {issued_key.raw_key}"), "invalidApiKey")


def test_it_rejects_the_key_of_an_inactive_user(url, client, user, issued_key):
    user.is_active = False
    user.save(update_fields=["is_active"])

    assert_401(client.get(url, HTTP_AUTHORIZATION=f"Bearer {issued_key.raw_key}"), "invalidApiKey")


def test_it_rejects_an_expired_key(url, client, user):
    issued = api_key_create(user=user, expires_at=timezone.now() - timedelta(minutes=1))

    assert_401(client.get(url, HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}"), "expiredApiKey")


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_it_accepts_a_valid_key(client, issued_key, scheme):
    response = client.get(CREDITS_URL, HTTP_AUTHORIZATION=f"{scheme} {issued_key.raw_key}")

    assert response.status_code == 200
    assert response.json()["credits"] == 100
    assert response.json()["account_type"] == "PRO"


def test_it_authenticates_as_the_owner_of_the_key(client, issued_key, other_user):
    other_key = api_key_create(user=other_user)

    response = client.get(CREDITS_URL, HTTP_AUTHORIZATION=f"Bearer {other_key.raw_key}")

    assert response.status_code == 200
    assert response.json()["account_type"] == "FREE"


def test_it_loads_the_key_its_user_and_credit_account_in_one_query(issued_key, user):
    with CaptureQueriesContext(connection) as queries:
        api_key = api_key_by_prefix(issued_key.api_key.prefix)
        assert (api_key.pk, api_key.user_id, api_key.digest) == (
            issued_key.api_key.pk, user.pk, issued_key.api_key.digest
        )
        assert api_key.user.is_active and api_key.user.credit_account.account_type == "PRO"
    assert len(queries.captured_queries) == 1

    # Fields it did not read are deferred, not blank: they load on first access.
    assert api_key.user.email == user.email and api_key.name == issued_key.api_key.name


def test_it_reports_a_user_without_credit_account_as_django_would(make_user):
    from billing.models import CreditAccount

    owner = make_user()
    CreditAccount.objects.filter(user=owner).delete()
    api_key = api_key_by_prefix(api_key_create(user=owner).api_key.prefix)

    with pytest.raises(CreditAccount.DoesNotExist):
        api_key.user.credit_account  # noqa: B018


def test_the_drf_views_authenticate_with_that_one_query(client, issued_key):
    # A well-formed id that does not exist: auth, then one lookup, then 404 (no last-use write: see below).
    client.get("/api/v1/generations/gen_0000000000000000", HTTP_AUTHORIZATION=f"Bearer {issued_key.raw_key}")

    with CaptureQueriesContext(connection) as queries:
        response = client.get(
            "/api/v1/generations/gen_0000000000000000", HTTP_AUTHORIZATION=f"Bearer {issued_key.raw_key}"
        )

    assert response.status_code == 404 and response.json()["error"]["code"] == "notFound"
    assert len(queries.captured_queries) == 2  # the key, then the generation
