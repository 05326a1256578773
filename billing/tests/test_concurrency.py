"""Postgres-only: many workers spending or refunding the same credits at the same moment.

These run in real transactions (no test-wide transaction around them), one database
connection per thread, so the account row lock in billing.services is what keeps the
numbers right.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import CreditBatch, LedgerEntry
from billing.selectors import balance_get, billing_audit, ledger_balance
from billing.services import InsufficientCredits, credits_grant
from billing.tests.factories import charge, make_generation, refund
from generations.models import Generation
from testsupport.concurrency import run_together

# The root conftest re-seeds gpt-image-2 after the flush that follows each transactional test.
pytestmark = pytest.mark.django_db(transaction=True)


def test_it_lets_exactly_as_many_charges_succeed_as_there_are_credits(make_user):
    user = make_user()
    now = timezone.now()
    batches = [
        credits_grant(user=user, amount=2, expires_at=now + timedelta(hours=1)),
        credits_grant(user=user, amount=2, expires_at=now + timedelta(hours=2)),
        credits_grant(user=user, amount=1),
    ]
    generations = [make_generation(user) for _ in range(20)]

    results = run_together(20, lambda index: charge(user=user, amount=1, generation=generations[index]))

    charged = [result for result in results if isinstance(result, int)]
    refused = [result for result in results if isinstance(result, InsufficientCredits)]
    assert (len(charged), len(refused)) == (5, 15), results
    assert charged == [1] * 5
    assert LedgerEntry.objects.filter(kind="charge").count() == 5  # one batch each: 1 credit never splits
    assert balance_get(user=user)["credits"] == ledger_balance(user=user) == 0
    assert [batch.remaining for batch in CreditBatch.objects.filter(pk__in=[b.pk for b in batches])] == [0, 0, 0]
    assert LedgerEntry.objects.filter(account_id=user.pk, kind="charge").count() == 5
    assert sorted(Generation.objects.filter(user=user).values_list("credits_charged", flat=True)) == [0] * 15 + [1] * 5
    assert billing_audit() == []


def test_it_refunds_a_generation_once_when_several_workers_refund_it_at_once(make_user):
    user = make_user(credits=5)
    generation = make_generation(user, credits_per_image=3)
    charge(user=user, amount=3, generation=generation)

    # Each worker holds its own copy of the generation, as separate processes would.
    results = run_together(8, lambda _: refund(generation=Generation.objects.get(pk=generation.pk), amount=3))

    assert sorted((result.refunded, result.already_refunded) for result in results) == [(0, True)] * 7 + [(3, False)]
    assert LedgerEntry.objects.filter(generation=generation, kind="refund").count() == 1
    generation.refresh_from_db()
    assert (generation.credits_charged, generation.credits_refunded) == (3, 3)
    assert balance_get(user=user)["credits"] == ledger_balance(user=user) == 5
    assert billing_audit() == []
