"""Shared fixtures: users, keys, credits and an API client, all through the services."""

import pytest
from rest_framework.test import APIClient

from accounts.services import api_key_create, user_create
from billing.services import credits_grant

pytest_plugins = ["testsupport.fixtures"]

TEST_PASSWORD = "pw-Secret-123"  # noqa: S105 (test users only)
_DB_FIXTURES = ("transactional_db", "live_server", "django_db_serialized_rollback")


@pytest.fixture(autouse=True, scope="session")
def fast_password_hashing():
    """Test users log in with a cheap hasher; production keeps Django's default."""
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True, scope="session")
def fair_share_off_in_process():
    """Tests race many threads of one client through the test client to prove the money paths; the
    per-client cap would queue them. gih/tests/test_fair_share.py turns it on; gunicorn subprocesses keep it."""
    from django.conf import settings

    settings.FAIR_SHARE_CONCURRENCY = 0


@pytest.fixture(autouse=True)
def fresh_login_throttle():
    """Log-in counts live in Redis and would outlast the test (and the run) that made them."""
    from accounts.login_throttle import login_throttle_reset

    login_throttle_reset()


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """A key's per-minute counts live in Redis too; key ids repeat between tests."""
    from accounts.ratelimit import rate_reset

    rate_reset()


@pytest.fixture(autouse=True)
def seeded_models(request):
    """Re-seed the model catalogue for every database test.

    Transactional tests flush the database afterwards, which also wipes the rows the
    data migration created; this puts gpt-image-2 and its prices back.
    """
    uses_db = request.node.get_closest_marker("django_db") or any(
        name in request.fixturenames for name in ("db", *_DB_FIXTURES)
    )
    if not uses_db:
        return
    if any(name in request.fixturenames for name in _DB_FIXTURES):
        request.getfixturevalue("transactional_db")
    elif not request.node.get_closest_marker("django_db"):
        request.getfixturevalue("db")
    from generations.models import ImageModel, ModelPrice, ProviderPrice
    from generations.seed import seed_default_models, seed_provider_prices

    seed_default_models(ImageModel, ModelPrice)
    seed_provider_prices(ImageModel, ProviderPrice)


@pytest.fixture
def make_user(db):
    counter = iter(range(1, 10_000))

    def make(email: str | None = None, *, credits: int = 0, account_type: str | None = None, **kwargs):
        email = email or f"user{next(counter)}@example.com"
        user = user_create(email=email, password=TEST_PASSWORD, account_type=account_type, **kwargs)
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
