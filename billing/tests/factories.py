"""Test helpers for billing: generations to charge, and a clock the services read."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from unittest import mock

from django.db import transaction
from django.db.models import F

from billing.services import RefundResult, credits_charge, credits_refund
from generations.models import Generation


def make_generation(user, n: int = 1, credits_per_image: int = 1) -> Generation:
    """A bare generation row to charge against (no provider call involved)."""
    return Generation.objects.create(
        user=user,
        model_id="gpt-image-2",
        prompt="x",
        n=n,
        aspect_ratio="auto",
        quality="1K",
        size="auto",
        provider_quality="auto",
        credits_per_image=credits_per_image,
    )


class Clock:
    """What `timezone.now()` returns while `frozen_clock` is active; move it with `advance`."""

    def __init__(self, now: datetime):
        self.now = now

    def advance(self, delta) -> datetime:
        self.now = self.now + delta
        return self.now


@contextmanager
def frozen_clock(now: datetime) -> Iterator[Clock]:
    """Make every `django.utils.timezone.now()` call (the services' clock) return `clock.now`.

    Only the clock is replaced; the services, the ORM and the database run for real.
    """
    clock = Clock(now)
    with mock.patch("django.utils.timezone.now", side_effect=lambda: clock.now):
        yield clock


def charge(*, user, amount: int, generation: Generation, note: str = "") -> int:
    """credits_charge plus what generations/services.py does with its answer (the generation keeps its total)."""
    with transaction.atomic():
        charged = credits_charge(user=user, amount=amount, generation=generation, note=note)
        Generation.objects.filter(pk=generation.pk).update(credits_charged=F("credits_charged") + charged)
    generation.credits_charged += charged
    return charged


def refund(*, generation: Generation, amount: int, note: str = "", actor=None) -> RefundResult:
    """credits_refund under the generation's row lock, recording the total as generations/transitions.py does."""
    with transaction.atomic():
        Generation.objects.select_for_update(of=("self",), no_key=True).get(pk=generation.pk)
        result = credits_refund(generation=generation, amount=amount, note=note, actor=actor)
        Generation.objects.filter(pk=generation.pk).update(credits_refunded=F("credits_refunded") + result.refunded)
    generation.credits_refunded += result.refunded
    return result
