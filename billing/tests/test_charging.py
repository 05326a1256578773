"""Charges, refunds, adjustments, grants and expiry, through billing.services on a real database."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import CreditBatch, LedgerEntry
from billing.selectors import balance_get, billing_audit, ledger_balance
from billing.services import (
    InsufficientCredits,
    credits_adjust,
    credits_charge,
    credits_expire_due,
    credits_grant,
)
from billing.tests.factories import charge, frozen_clock, make_generation, refund
from generations.models import Generation

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)


@pytest.fixture
def t0():
    return timezone.now().replace(microsecond=0)


@pytest.fixture
def staff(make_user):
    return make_user("staff@example.com", is_staff=True)


def credits(user, now=None) -> int:
    return balance_get(user=user, now=now)["credits"]


def remaining(*batches: CreditBatch) -> list[int]:
    return [CreditBatch.objects.get(pk=batch.pk).remaining for batch in batches]


def rows(generation, kind: str) -> dict[int, int]:
    return dict(LedgerEntry.objects.filter(generation=generation, kind=kind).values_list("batch_id", "amount"))


@pytest.fixture
def three_batches(make_user, t0):
    """soon (2, expires in 1 h), later (2, in 2 h), never (2); granted out of expiry order on purpose."""
    user = make_user()
    never = credits_grant(user=user, amount=2)
    later = credits_grant(user=user, amount=2, expires_at=t0 + 2 * HOUR)
    soon = credits_grant(user=user, amount=2, expires_at=t0 + HOUR)
    return user, soon, later, never


def test_it_spends_the_soonest_expiring_batch_first_and_the_never_expiring_one_last(three_batches):
    user, soon, later, never = three_batches

    charge(user=user, amount=1, generation=make_generation(user))
    assert remaining(soon, later, never) == [1, 2, 2]
    charge(user=user, amount=2, generation=make_generation(user))
    assert remaining(soon, later, never) == [0, 1, 2]
    charge(user=user, amount=2, generation=make_generation(user))
    assert remaining(soon, later, never) == [0, 0, 1]
    assert credits(user) == 1


def test_it_writes_one_ledger_row_per_batch_a_charge_touches(three_batches):
    user, soon, later, never = three_batches
    generation = make_generation(user, n=1, credits_per_image=5)

    assert charge(user=user, amount=5, generation=generation) == 5
    entries = LedgerEntry.objects.filter(generation=generation, kind="charge").order_by("id")

    assert [(entry.batch_id, entry.amount) for entry in entries] == [(soon.pk, -2), (later.pk, -2), (never.pk, -1)]
    assert rows(generation, "charge") == {soon.pk: -2, later.pk: -2, never.pk: -1}
    generation.refresh_from_db()
    assert generation.credits_charged == 5
    assert credits(user) == ledger_balance(user=user) == 1
    assert billing_audit() == []


def test_it_refuses_a_charge_larger_than_the_balance_and_writes_nothing(three_batches):
    user, soon, later, never = three_batches
    generation = make_generation(user, n=1, credits_per_image=7)
    ledger_rows = LedgerEntry.objects.count()

    with pytest.raises(InsufficientCredits) as refused:
        charge(user=user, amount=7, generation=generation)

    assert (refused.value.needed, refused.value.available) == (7, 6)
    assert LedgerEntry.objects.count() == ledger_rows
    assert remaining(soon, later, never) == [2, 2, 2]
    generation.refresh_from_db()
    assert generation.credits_charged == 0
    assert credits(user) == ledger_balance(user=user) == 6


@pytest.mark.parametrize("swept", [False, True], ids=["before-the-sweep", "after-the-sweep"])
def test_it_treats_a_batch_as_expired_from_the_exact_second_it_expires(make_user, t0, swept):
    user = make_user()
    with frozen_clock(t0) as clock:
        batch = credits_grant(user=user, amount=3, expires_at=t0 + HOUR)

        clock.now = batch.expires_at - SECOND
        charge(user=user, amount=1, generation=make_generation(user))
        assert credits(user) == ledger_balance(user=user) == 2  # one second before expiry: still usable

        clock.now = batch.expires_at
        if swept:
            assert credits_expire_due(now=clock.now) == 2
        assert credits(user) == ledger_balance(user=user) == 0
        generation = make_generation(user)
        with pytest.raises(InsufficientCredits) as refused:
            charge(user=user, amount=1, generation=generation)

    assert refused.value.available == 0
    assert not LedgerEntry.objects.filter(generation=generation).exists()
    assert remaining(batch) == [0 if swept else 2]
    assert billing_audit() == []


def test_it_refunds_part_of_a_charge_into_the_last_taken_batches_first(three_batches):
    user, soon, later, never = three_batches
    generation = make_generation(user, credits_per_image=5)
    charge(user=user, amount=5, generation=generation)  # soon -2, later -2, never -1

    result = refund(generation=generation, amount=2)

    assert (result.refunded, result.already_refunded) == (2, False)
    assert rows(generation, "refund") == {never.pk: 1, later.pk: 1}
    assert remaining(soon, later, never) == [0, 1, 2]
    generation.refresh_from_db()
    assert (generation.credits_charged, generation.credits_refunded) == (5, 2)
    assert credits(user) == 3
    assert billing_audit() == []


def test_it_refunds_a_whole_charge_back_to_every_batch_and_never_more_than_was_charged(three_batches):
    user, soon, later, never = three_batches
    generation = make_generation(user, credits_per_image=5)
    charge(user=user, amount=5, generation=generation)

    result = refund(generation=generation, amount=50)

    assert result.refunded == 5
    assert rows(generation, "refund") == {never.pk: 1, later.pk: 2, soon.pk: 2}
    assert remaining(soon, later, never) == [2, 2, 2]
    generation.refresh_from_db()
    assert generation.credits_refunded == 5
    assert credits(user) == ledger_balance(user=user) == 6


@pytest.mark.parametrize("first_refund", [3, 1], ids=["after-a-full-refund", "after-a-partial-refund"])
def test_it_refunds_nothing_the_second_time(three_batches, first_refund):
    user, *_ = three_batches
    generation = make_generation(user, credits_per_image=3)
    charge(user=user, amount=3, generation=generation)
    refund(generation=generation, amount=first_refund)
    ledger_rows = LedgerEntry.objects.count()
    balance = credits(user)

    again = refund(generation=generation, amount=3)

    assert (again.refunded, again.already_refunded) == (0, True)
    assert LedgerEntry.objects.count() == ledger_rows
    assert credits(user) == balance == 3 + first_refund
    generation.refresh_from_db()
    assert generation.credits_refunded == first_refund


@pytest.mark.parametrize("swept", [False, True], ids=["sweep-not-yet-run", "sweep-already-ran"])
def test_it_refunds_credits_whose_batch_expired_meanwhile_into_a_fresh_short_lived_batch(
    make_user, t0, swept, settings
):
    """The user must not pay for the hub's failure because the batch ran out while the provider worked."""
    settings.CREDIT_REFUND_GRACE_DAYS = 7
    user = make_user()
    with frozen_clock(t0) as clock:
        soon = credits_grant(user=user, amount=5, expires_at=t0 + HOUR)
        never = credits_grant(user=user, amount=2)
        generation = make_generation(user, credits_per_image=3)
        charge(user=user, amount=3, generation=generation)  # all from `soon`, 2 left in it

        clock.now = soon.expires_at + SECOND
        if swept:
            assert credits_expire_due(now=clock.now) == 2

        assert refund(generation=generation, amount=3).refunded == 3
        [refund_row] = LedgerEntry.objects.filter(generation=generation, kind="refund")
        fresh = refund_row.batch
        assert (fresh.source, fresh.amount, fresh.remaining) == ("refund", 3, 3)
        assert fresh.expires_at == clock.now + timedelta(days=7)
        assert remaining(soon, never) == [0 if swept else 2, 2]  # the expired batch gets nothing back
        assert credits(user) == ledger_balance(user=user) == 5
        charge(user=user, amount=3, generation=make_generation(user, credits_per_image=3))  # usable again

        assert credits_expire_due(now=clock.now) == (0 if swept else 2)

    assert billing_audit() == []


def test_it_refunds_into_the_unexpired_batches_as_before_and_only_the_expired_share_anew(make_user, t0):
    user = make_user()
    with frozen_clock(t0) as clock:
        soon = credits_grant(user=user, amount=2, expires_at=t0 + HOUR)
        later = credits_grant(user=user, amount=5, expires_at=t0 + 10 * HOUR)
        generation = make_generation(user, credits_per_image=4)
        charge(user=user, amount=4, generation=generation)  # 2 from soon, 2 from later
        clock.now = soon.expires_at + SECOND

        refund(generation=generation, amount=4)

    refund_rows = LedgerEntry.objects.filter(generation=generation, kind="refund")
    refunds = {entry.batch_id: entry.amount for entry in refund_rows}
    fresh = CreditBatch.objects.get(source="refund")
    assert refunds == {later.pk: 2, fresh.pk: 2}
    assert billing_audit() == []


def test_it_adjusts_up_with_a_new_batch_recording_the_staff_member_and_the_reason(make_user, staff):
    user = make_user(credits=1)

    [entry] = credits_adjust(user=user, amount=4, actor=staff, note="Compensation for outage #12")

    assert (entry.kind, entry.amount, entry.actor, entry.note) == ("adjust", 4, staff, "Compensation for outage #12")
    assert (entry.batch.source, entry.batch.amount, entry.batch.granted_by) == ("adjustment", 4, staff)
    assert credits(user) == ledger_balance(user=user) == 5


def test_it_adjusts_down_from_the_soonest_expiring_batches_recording_the_staff_member(three_batches, staff):
    user, soon, later, never = three_batches

    entries = credits_adjust(user=user, amount=-3, actor=staff, note="Chargeback")

    assert [(entry.batch_id, entry.kind, entry.amount) for entry in entries] == [
        (soon.pk, "adjust", -2),
        (later.pk, "adjust", -1),
    ]
    assert {(entry.actor_id, entry.note) for entry in LedgerEntry.objects.filter(kind="adjust")} == {
        (staff.pk, "Chargeback")
    }
    assert remaining(soon, later, never) == [0, 1, 2]
    assert billing_audit() == []


@pytest.mark.parametrize(
    ("amount", "note", "error"),
    [(0, "reason", ValueError), (5, "  ", ValueError), (-5, "", ValueError), (-7, "Chargeback", InsufficientCredits)],
    ids=["zero", "blank-reason", "no-reason", "more-than-the-balance"],
)
def test_it_rejects_bad_adjustments_and_writes_nothing(three_batches, staff, amount, note, error):
    user, *_ = three_batches
    ledger_rows, batches = LedgerEntry.objects.count(), CreditBatch.objects.count()

    with pytest.raises(error):
        credits_adjust(user=user, amount=amount, actor=staff, note=note)

    assert (LedgerEntry.objects.count(), CreditBatch.objects.count()) == (ledger_rows, batches)
    assert credits(user) == 6


def test_it_reports_the_next_expiration_until_its_exact_second(make_user, t0):
    user = make_user()
    first, second = t0 + HOUR, t0 + 2 * HOUR
    with frozen_clock(t0):
        credits_grant(user=user, amount=2, expires_at=first)
        credits_grant(user=user, amount=3, expires_at=first)
        credits_grant(user=user, amount=4, expires_at=second)
        credits_grant(user=user, amount=10)

    just_before = balance_get(user=user, now=first - SECOND)
    assert just_before["credits"] == 19
    assert just_before["next_expiration"] == {"credits": 5, "expires_at": first.isoformat().replace("+00:00", "Z")}
    assert [batch["credits"] for batch in just_before["expiring_batches"]] == [2, 3, 4]

    at_the_second = balance_get(user=user, now=first)
    assert at_the_second["credits"] == ledger_balance(user=user, now=first) == 14
    assert at_the_second["next_expiration"] == {"credits": 4, "expires_at": second.isoformat().replace("+00:00", "Z")}

    after_all = balance_get(user=user, now=second)
    assert (after_all["credits"], after_all["next_expiration"], after_all["expiring_batches"]) == (10, None, [])


@pytest.mark.parametrize(
    ("amount", "expires_in"),
    [(0, None), (-5, None), (5, timedelta(0)), (5, -SECOND)],
    ids=["zero", "negative", "expiring-now", "already-expired"],
)
def test_it_rejects_invalid_grants_and_writes_nothing(make_user, t0, amount, expires_in):
    user = make_user()
    with frozen_clock(t0), pytest.raises(ValueError):
        credits_grant(user=user, amount=amount, expires_at=None if expires_in is None else t0 + expires_in)

    assert not CreditBatch.objects.filter(account_id=user.pk).exists()
    assert not LedgerEntry.objects.filter(account_id=user.pk).exists()


def test_it_records_a_grant_as_a_batch_and_a_ledger_row(make_user, staff, t0):
    user = make_user()

    batch = credits_grant(user=user, amount=7, expires_at=t0 + HOUR, source="promo", actor=staff, note="Launch promo")

    [entry] = LedgerEntry.objects.filter(batch=batch)
    assert (batch.amount, batch.remaining, batch.source, batch.granted_by, batch.note) == (
        7, 7, "promo", staff, "Launch promo"
    )
    assert (entry.kind, entry.amount, entry.actor, entry.note) == ("grant", 7, staff, "Launch promo")


def test_it_refuses_to_update_or_delete_ledger_rows_even_with_raw_querysets(make_user):
    user = make_user(credits=5)
    entry = LedgerEntry.objects.get(account_id=user.pk)

    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=500)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).delete()

    assert LedgerEntry.objects.get(pk=entry.pk).amount == 5


def test_it_refuses_to_charge_a_generation_twice(make_user):
    user = make_user(credits=10)
    generation = make_generation(user, n=1, credits_per_image=2)
    charge(user=user, amount=2, generation=generation)

    with pytest.raises(ValueError, match="already charged"):
        charge(user=user, amount=2, generation=generation)

    assert balance_get(user=user)["credits"] == 8


def test_it_rejects_a_positive_adjustment_that_has_already_expired(make_user):
    user = make_user(credits=1)
    staff = make_user(is_staff=True)

    with pytest.raises(ValueError, match="future"):
        credits_adjust(user=user, amount=5, actor=staff, note="goodwill", expires_at=timezone.now())

    assert balance_get(user=user)["credits"] == 1


def test_a_charge_across_batches_takes_and_records_in_one_write(make_user):
    """billing.services.ledger._write_takes: the batch updates and their ledger rows, one statement on Postgres."""
    user = make_user()
    now = timezone.now()
    soon = credits_grant(user=user, amount=2, expires_at=now + timedelta(days=1))
    later = credits_grant(user=user, amount=3, expires_at=now + timedelta(days=2))
    never = credits_grant(user=user, amount=10)
    generation = make_generation(user, n=1, credits_per_image=6)

    with CaptureQueriesContext(connection) as captured:
        charge(user=user, amount=6, generation=generation)

    rows = LedgerEntry.objects.filter(generation=generation).order_by("id")
    assert sorted((row.batch_id, row.amount) for row in rows) == [(soon.pk, -2), (later.pk, -3), (never.pk, -1)]
    assert [CreditBatch.objects.get(pk=batch.pk).remaining for batch in (soon, later, never)] == [0, 0, 9]
    writes = [query["sql"] for query in captured.captured_queries if "INSERT INTO billing_ledgerentry" in query["sql"]]
    if connection.vendor == "postgresql":
        assert len(writes) == 1 and writes[0].startswith("WITH v"), writes
    assert billing_audit() == []


def _unsaved_generation(user, credits_per_image: int) -> Generation:
    return Generation(
        user=user, model_id="gpt-image-2", prompt="x", n=1, aspect_ratio="auto", quality="1K", size="auto",
        provider_quality="auto", credits_per_image=credits_per_image, credits_charged=credits_per_image,
        options={"background": "auto"},
    )  # fmt: skip


def test_a_charge_inserts_the_generation_it_pays_for_in_its_one_write(make_user):
    """generations.services.generation_submit: the generation's row goes in with the ledger rows that reference it."""
    user = make_user()
    soon = credits_grant(user=user, amount=2, expires_at=timezone.now() + HOUR)
    never = credits_grant(user=user, amount=10)
    generation = _unsaved_generation(user, credits_per_image=5)

    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        credits_charge(user=user, amount=5, generation=generation, insert_generation=True)

    stored = Generation.objects.get(pk=generation.pk)
    assert (stored.user_id, stored.credits_charged, stored.options) == (user.pk, 5, {"background": "auto"})
    assert stored.created_at == generation.created_at and not generation._state.adding
    assert rows(generation, "charge") == {soon.pk: -2, never.pk: -3}
    inserts = [query["sql"] for query in captured.captured_queries if "INSERT INTO" in query["sql"]]
    if connection.vendor == "postgresql":
        assert len(inserts) == 1 and inserts[0].startswith("WITH row AS (INSERT INTO generations_generation"), inserts
    assert billing_audit() == []


def test_a_refused_charge_never_writes_the_generation(make_user):
    user = make_user(credits=3)
    generation = _unsaved_generation(user, credits_per_image=5)

    with pytest.raises(InsufficientCredits), transaction.atomic():
        credits_charge(user=user, amount=5, generation=generation, insert_generation=True)

    assert not Generation.objects.filter(pk=generation.pk).exists()
    assert credits(user) == 3 and billing_audit() == []


def test_a_generation_row_the_database_refuses_takes_no_credits(make_user):
    """A refused insert (here: an id already taken) fails the whole statement: no batch changes, no ledger row."""
    user = make_user(credits=10)
    taken = make_generation(user)
    generation = _unsaved_generation(user, credits_per_image=5)
    generation.pk = taken.pk

    with pytest.raises(IntegrityError), transaction.atomic():
        credits_charge(user=user, amount=5, generation=generation, insert_generation=True)

    assert credits(user) == 10 and not LedgerEntry.objects.filter(generation_id=taken.pk).exists()
    assert billing_audit() == []
