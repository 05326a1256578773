"""Postgres-only: many requests spending the last credits at the same moment, through the real view."""

from collections import Counter

import pytest

from billing.models import LedgerEntry
from billing.selectors import balance_get, billing_audit
from generations.models import GeneratedImage, Generation
from generations.tests.factories import GENERATIONS_URL, api_client_for
from testsupport.concurrency import run_together

# Real transactions, one connection per thread: only the account row lock keeps the numbers right.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_cleanup")]

THREADS = 20
BODY = {"model": "gpt-image-2", "prompt": "The last credits", "aspect_ratio": "1:1", "quality": "1K"}


def post_all_at_once(clients, **headers) -> list:
    """POST one generation per client, all threads released together; each response or exception."""
    return run_together(
        len(clients), lambda index: clients[index].post(GENERATIONS_URL, BODY, format="json", **headers)
    )


def test_it_lets_exactly_as_many_generations_through_as_the_credits_pay_for(make_user):
    owner = make_user("racer@example.com", credits=5)
    clients = [api_client_for(owner) for _ in range(THREADS)]

    responses = post_all_at_once(clients)

    assert not [response for response in responses if isinstance(response, Exception)]
    assert Counter(response.status_code for response in responses) == {200: 5, 402: 15}
    for response in responses:
        if response.status_code == 402:
            assert response.json()["error"]["code"] == "insufficientCredits"
        else:
            assert response.json()["status"] == "succeeded"
            assert response.json()["usage"]["credits"] == 1
    assert balance_get(user=owner)["credits"] == 0
    assert Generation.objects.count() == 5  # a refused charge leaves no generation behind
    assert Generation.objects.filter(status=Generation.Status.SUCCEEDED).count() == 5
    assert GeneratedImage.objects.count() == 5
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE).count() == 5
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFUND).exists()
    assert billing_audit() == []


def test_it_runs_and_charges_once_when_one_idempotency_key_arrives_many_times_at_once(make_user):
    owner = make_user("retrier@example.com", credits=5)
    clients = [api_client_for(owner) for _ in range(10)]

    responses = post_all_at_once(clients, HTTP_IDEMPOTENCY_KEY="checkout-7")

    assert not [response for response in responses if isinstance(response, Exception)]
    # The request that won runs it (200); the others answer with that same generation, finished
    # (200) or still running (202 with its poll_url).
    assert {response.status_code for response in responses} <= {200, 202}
    assert len({response.json()["id"] for response in responses}) == 1
    assert Generation.objects.count() == 1
    assert GeneratedImage.objects.count() == 1
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE).count() == 1
    assert balance_get(user=owner)["credits"] == 4
    assert billing_audit() == []
