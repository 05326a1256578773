"""Bearer authentication on the API: every documented 401, each in the error envelope."""

from datetime import timedelta

import pytest
from django.utils import timezone

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
