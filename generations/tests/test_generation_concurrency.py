"""Postgres-only: many requests spending the last credits at the same moment, through the real view."""

import threading
from collections import Counter

import pytest
from django.db import connection

from billing.models import LedgerEntry
from billing.selectors import balance_get, billing_audit
from generations.models import GeneratedImage, Generation
from generations.tests.factories import GENERATIONS_URL, api_client_for

# Real transactions, one connection per thread: only the account row lock keeps the numbers right.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_cleanup")]

THREADS = 20
BODY = {"model": "gpt-image-2", "prompt": "The last credits", "aspect_ratio": "1:1", "quality": "1K"}


def post_all_at_once(clients, **headers) -> list:
    """POST one generation per client, all threads released together; each response or exception."""
    barrier = threading.Barrier(len(clients))
    results: list = [None] * len(clients)

    def target(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = clients[index].post(GENERATIONS_URL, BODY, format="json", **headers)
        except Exception as error:
            results[index] = error
        finally:
            connection.close()  # this thread's connection goes back to the pool

    connection.close()  # so is the main thread's, so every worker can get one at once
    threads = [threading.Thread(target=target, args=(index,)) for index in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results


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
