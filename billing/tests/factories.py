"""Test helpers for billing: generations to charge, and a clock the services read."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from unittest import mock

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
