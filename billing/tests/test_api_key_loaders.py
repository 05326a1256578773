"""The generation views' key loader reads limits and credits in the authenticating query: it must say what the
separate reads say (accounts.limits.effective_limits, billing.selectors.balance_get), and the view must use it."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.limits import effective_limits
from accounts.models import AccountTypeLimits, ApiKey
from accounts.services import api_key_create
from billing.api_key_loaders import api_key_for_generation
from billing.selectors import balance_get
from billing.services import credits_grant
from billing.tests.factories import charge, frozen_clock, make_generation
from generations.tests.factories import GENERATIONS_URL, api_client_for

pytestmark = pytest.mark.django_db


def test_its_limits_are_the_ones_effective_limits_reads(user):
    AccountTypeLimits.objects.create(
        account_type="PRO",
        rate_limit_per_minute=10,
        max_concurrent=5,
        spend_limit=900,
        spend_period="month",
        allowed_models=["gpt-image-2", "gpt-image-1"],
    )
    key = api_key_create(
        user=user,
        limits={
            "rate_limit_per_minute": 30,
            "max_concurrent": 2,
            "spend_limit": 50,
            "spend_period": "day",
            "allowed_models": ["gpt-image-2"],
            "allowed_ips": ["203.0.113.0/24"],
        },
    ).api_key

    loaded = api_key_for_generation(key.prefix, now=timezone.now())

    expected = effective_limits(ApiKey.objects.get(pk=key.pk))
    assert loaded.limits_at_auth == expected
    assert (expected.rate_limit_per_minute, expected.max_concurrent, len(expected.spend_limits)) == (10, 2, 2)
    assert expected.allowed_models == frozenset({"gpt-image-2"})
    assert effective_limits(loaded) is loaded.limits_at_auth  # read once: no second query


def test_a_key_without_limits_of_a_type_without_defaults_has_none(issued_key):
    loaded = api_key_for_generation(issued_key.api_key.prefix, now=timezone.now())

    assert loaded.limits_at_auth == effective_limits(ApiKey.objects.get(pk=issued_key.api_key.pk))
    assert loaded.limits_at_auth.rate_limit_per_minute is None and loaded.limits_at_auth.allowed_models is None


def test_its_credits_are_the_usable_balance(user, issued_key):
    with frozen_clock(timezone.now()) as clock:
        credits_grant(user=user, amount=7, expires_at=timezone.now() + timedelta(days=1))
        charge(user=user, amount=3, generation=make_generation(user, credits_per_image=3))  # from the 7
        credits_grant(user=user, amount=5, expires_at=timezone.now() + timedelta(hours=1))  # will have expired
        clock.advance(timedelta(hours=2))

        loaded = api_key_for_generation(issued_key.api_key.prefix, now=timezone.now())

        assert loaded.credits_at_auth == balance_get(user=user)["credits"] == 100 + 7 - 3
    assert (loaded.pk, loaded.user_id, loaded.user.credit_account.account_type) == (
        issued_key.api_key.pk,
        user.pk,
        "PRO",
    )
    assert api_key_for_generation("gih_live_nosuchkey", now=timezone.now()) is None


def test_a_refused_generation_reads_the_key_once_and_nothing_else(make_user):
    """402 before any lock: the key, its limits and the credits came in one query."""
    client = api_client_for(make_user(credits=1))
    body = {"model": "gpt-image-2", "prompt": "too dear", "quality": "high", "size": "1024x1024"}
    client.post(GENERATIONS_URL, body, format="json")  # records the key's first use (once a minute)
    with CaptureQueriesContext(connection) as captured:
        response = client.post(GENERATIONS_URL, body, format="json")

    assert response.status_code == 402, response.content
    # The catalogue's own reads (inside the test's transaction it is not cached) are test_catalogue.py's.
    reads = [query["sql"] for query in captured.captured_queries if "generations_" not in query["sql"]]
    assert len(reads) == 1, reads
