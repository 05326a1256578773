"""The reaper fails and refunds generations stuck past GENERATION_STUCK_AFTER_SECONDS, once."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from billing.models import LedgerEntry
from billing.selectors import balance_get, billing_audit
from generations.models import GeneratedImage, Generation
from generations.tasks import reap_stuck_generations
from generations.tests.conftest import submit_async, wait_for_status
from generations.transitions import generations_reap_stuck

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("empty_queue", "generation_files_cleanup"),
]

Status = Generation.Status


def past_the_limit():
    return timezone.now() + timedelta(seconds=settings.GENERATION_STUCK_AFTER_SECONDS + 1)


def assert_refunded_once(generation_id: str) -> Generation:
    generation = Generation.objects.get(pk=generation_id)
    assert (generation.status, generation.error_code) == (Status.FAILED, "timeout")
    assert generation.credits_refunded == generation.credits_charged > 0
    refunds = LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.REFUND)
    assert sum(entry.amount for entry in refunds) == generation.credits_charged
    assert billing_audit() == []
    return generation


def test_it_fails_and_refunds_a_stuck_generation_once_however_often_it_runs(api, user, settings):
    stuck = submit_async(api, n=2)["id"]  # no worker: it stays queued
    fresh = submit_async(api)["id"]
    Generation.objects.filter(pk=stuck).update(created_at=timezone.now() - timedelta(hours=1))
    settings.GENERATION_STUCK_AFTER_SECONDS = 600

    assert generations_reap_stuck() == 1
    assert generations_reap_stuck() == 0
    assert reap_stuck_generations.apply().get() == 0  # the beat task is the same service

    assert_refunded_once(stuck)
    fresh = Generation.objects.get(pk=fresh)
    assert fresh.status == Status.QUEUED
    assert balance_get(user=user)["credits"] == 100 - fresh.credits_charged


def test_it_keeps_the_refund_when_a_reaped_generation_finishes_afterwards(api, user, start_worker):
    worker = start_worker(LOCAL_PROVIDER_DELAY_SECONDS="3")
    generation_id = submit_async(api, n=2)["id"]
    wait_for_status(generation_id, Status.RUNNING, timeout=10)

    assert generations_reap_stuck(now=past_the_limit()) == 1
    worker.wait_for_log("succeeded in", timeout=15)  # the provider call ended after the reaper

    generation = assert_refunded_once(generation_id)
    assert balance_get(user=user)["credits"] == 100
    assert not GeneratedImage.objects.filter(generation=generation).exists()
    images = settings.MEDIA_ROOT / "generations" / generation_id
    assert not images.exists() or not any(images.iterdir()), "the late images were not deleted"
