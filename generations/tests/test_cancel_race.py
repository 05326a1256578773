"""Postgres-only: the owner's cancel and the worker's claim of the same queued generation, at the same moment."""

from collections import Counter
from functools import partial

import pytest

from billing.models import LedgerEntry
from billing.selectors import balance_get, billing_audit
from generations.attempts import generation_run
from generations.models import GeneratedImage, Generation
from generations.services import generation_accept
from generations.transitions import generation_cancel
from gih.errors import GenerationFinished, GenerationRunning
from testsupport.concurrency import run_together

# Real transactions, one connection per thread: only the row lock and the compare-and-set keep it right.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_cleanup")]

ROUNDS = 30
Status = Generation.Status


def cancel_or_run(owner, generation_id: str, index: int) -> Generation:
    """Thread 0 is the owner canceling, thread 1 the worker's task arriving."""
    if index == 0:
        return generation_cancel(user=owner, generation_id=generation_id)
    return generation_run(generation_id=generation_id)


def test_a_cancel_racing_the_worker_refunds_exactly_once_or_not_at_all(make_user):
    owner = make_user("racer@example.com", credits=ROUNDS)
    outcomes = Counter()

    for _ in range(ROUNDS):
        # Accepted (charged, queued) without publishing its task: this test plays the worker's part.
        generation = generation_accept(
            user=owner, data={"model": "gpt-image-2", "prompt": "Cancel me if you can", "async": True}
        ).generation
        canceled, ran = run_together(2, partial(cancel_or_run, owner, generation.pk))

        final = Generation.objects.get(pk=generation.pk)
        refunds = LedgerEntry.objects.filter(generation=final, kind=LedgerEntry.Kind.REFUND)
        images = GeneratedImage.objects.filter(generation=final)
        if final.status == Status.CANCELED:
            # The cancel won: the worker found nothing to run.
            assert canceled.status == Status.CANCELED and ran.status == Status.CANCELED
            assert final.attempts == 0 and not images.exists()
            assert final.credits_refunded == final.credits_charged == 1
            assert refunds.count() == 1
        else:
            # The worker won: the cancel was refused, the generation ran and kept its charge.
            assert isinstance(canceled, GenerationRunning | GenerationFinished), canceled
            assert final.status == Status.SUCCEEDED and images.count() == 1
            assert final.credits_refunded == 0 and not refunds.exists()
        outcomes[final.status] += 1

    assert sum(outcomes.values()) == ROUNDS
    assert balance_get(user=owner)["credits"] == outcomes[Status.CANCELED]
    assert billing_audit() == []
