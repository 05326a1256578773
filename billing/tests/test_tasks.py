"""The beat-scheduled expiry sweep."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import CreditBatch, LedgerEntry
from billing.selectors import balance_get, billing_audit
from billing.services import credits_expire_due, credits_grant
from billing.tasks import expire_credit_batches
from billing.tests.factories import charge, frozen_clock, make_generation

pytestmark = pytest.mark.django_db


def test_it_is_the_task_beat_schedules():
    assert settings.CELERY_BEAT_SCHEDULE["expire-credit-batches"]["task"] == expire_credit_batches.name


def test_it_writes_off_what_is_left_in_expired_batches_and_nothing_else(make_user):
    user, other = make_user(), make_user()
    now = timezone.now().replace(microsecond=0)
    with frozen_clock(now) as clock:
        expiring = credits_grant(user=user, amount=5, expires_at=now + timedelta(hours=1))
        later = credits_grant(user=user, amount=4, expires_at=now + timedelta(hours=2))
        never = credits_grant(user=user, amount=3)
        others = credits_grant(user=other, amount=6, expires_at=now + timedelta(hours=1))
        charge(user=user, amount=2, generation=make_generation(user, credits_per_image=2))

        clock.now = expiring.expires_at  # the very second it expires
        assert expire_credit_batches.apply().get() == 3 + 6
        assert expire_credit_batches.apply().get() == 0  # nothing left to write off

    assert [CreditBatch.objects.get(pk=b.pk).remaining for b in (expiring, later, never, others)] == [0, 4, 3, 0]
    expired = LedgerEntry.objects.filter(kind="expire")
    assert sorted((entry.batch_id, entry.amount) for entry in expired) == sorted([(expiring.pk, -3), (others.pk, -6)])
    assert balance_get(user=user, now=clock.now)["credits"] == 7
    assert billing_audit() == []


def test_it_sweeps_each_account_in_one_transaction_however_many_of_its_batches_expired(make_user):
    users = [make_user(), make_user()]
    now = timezone.now().replace(microsecond=0)
    with frozen_clock(now) as clock:
        for user in users:
            for minutes in (10, 20, 30):
                credits_grant(user=user, amount=1, expires_at=now + timedelta(minutes=minutes))
                clock.advance(timedelta(seconds=1))  # batches granted at different times

    with CaptureQueriesContext(connection) as queries:
        assert credits_expire_due(now=now + timedelta(hours=1)) == 6

    sql = [query["sql"] for query in queries]
    assert len([q for q in sql if 'FROM "billing_creditaccount"' in q and "FOR UPDATE" in q]) == len(users)
