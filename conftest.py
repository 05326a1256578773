"""Shared fixtures: users, keys, credits and an API client, all through the services."""

import pytest
from rest_framework.test import APIClient

from accounts.services import api_key_create, user_create
from billing.services import credits_grant


@pytest.fixture
def make_user(db):
    counter = iter(range(1, 10_000))

    def make(email: str | None = None, *, credits: int = 0, account_type: str | None = None, **kwargs):
        user = user_create(email=email or f"user{next(counter)}@example.com", password="pw-Secret-123", account_type=account_type, **kwargs)
        if credits:
            credits_grant(user=user, amount=credits, note="test credits")
        return user

    return make


@pytest.fixture
def user(make_user):
    return make_user("alice@example.com", credits=100, account_type="PRO")


@pytest.fixture
def other_user(make_user):
    return make_user("mallory@example.com", credits=100)


@pytest.fixture
def issued_key(user):
    return api_key_create(user=user, name="test")


@pytest.fixture
def api(issued_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued_key.raw_key}")
    return client


@pytest.fixture
def anon_api():
    return APIClient()
