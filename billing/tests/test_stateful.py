"""Any interleaving of grants, charges, refunds, time passing and expiry sweeps keeps the books straight.

A hypothesis state machine drives the real services against Postgres and keeps a
plain-Python model of what every batch should hold. The services' clock is frozen
and moved by the machine, so charges, sweeps and balance reads all see the same
"now", including the exact second a batch expires.
"""

import itertools
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from accounts.services import user_create
from billing.models import CreditBatch, LedgerEntry
from billing.selectors import balance_get, billing_audit, ledger_balance
from billing.services import (
    InsufficientCredits,
    credits_expire_due,
    credits_grant,
)
from billing.tests.factories import charge, frozen_clock, make_generation, refund
from generations.models import Generation

# Later than any expiry a run can reach (25 steps of at most 2 h, grants of at most 3 h).
FAR_FUTURE = timedelta(days=365)
_emails = itertools.count()


@dataclass
class ModelBatch:
    amount: int
    remaining: int
    expires_at: datetime | None


class CreditsMachine(RuleBasedStateMachine):
    """One fresh user per example; the model says what each batch and generation must hold."""

    def __init__(self):
        super().__init__()
        self._exit_stack = ExitStack()
        self.start = timezone.now().replace(microsecond=0)
        self.clock = self._exit_stack.enter_context(frozen_clock(self.start))
        self.user = user_create(email=f"machine{next(_emails)}@example.com")
        self.batches: dict[int, ModelBatch] = {}
        self.generation_ids: list[str] = []
        self.charges: dict[str, list[tuple[int, int]]] = {}  # generation -> [(batch, taken)] in taking order
        self.refunded: dict[str, int] = {}

    def usable(self) -> list[tuple[int, ModelBatch]]:
        """The model's usable batches at the current time, in the order a charge takes them."""
        now = self.clock.now
        usable = [
            (pk, batch)
            for pk, batch in self.batches.items()
            if batch.remaining > 0 and (batch.expires_at is None or batch.expires_at > now)
        ]
        return sorted(usable, key=lambda item: (item[1].expires_at is None, item[1].expires_at or now, item[0]))

    @rule(
        amount=st.integers(1, 20),
        expires_in=st.none() | st.integers(1, 180).map(lambda minutes: timedelta(minutes=minutes)),
    )
    def grant(self, amount: int, expires_in: timedelta | None) -> None:
        expires_at = None if expires_in is None else self.clock.now + expires_in
        batch = credits_grant(user=self.user, amount=amount, expires_at=expires_at)
        self.batches[batch.pk] = ModelBatch(amount, amount, expires_at)

    @rule(amount=st.integers(1, 12))
    def charge(self, amount: int) -> None:
        generation = make_generation(self.user, credits_per_image=amount)
        self.generation_ids.append(generation.pk)
        self.charges[generation.pk] = []
        usable = self.usable()
        available = sum(batch.remaining for _, batch in usable)
        if available < amount:
            with pytest.raises(InsufficientCredits) as refused:
                charge(user=self.user, amount=amount, generation=generation)
            assert refused.value.available == available
            return
        expected, left = [], amount
        for pk, batch in usable:
            if left == 0:
                break
            taken = min(left, batch.remaining)
            expected.append((pk, taken))
            batch.remaining -= taken
            left -= taken
        charge(user=self.user, amount=amount, generation=generation)
        entries = LedgerEntry.objects.filter(generation=generation, kind="charge").order_by("id")
        assert [(entry.batch_id, -entry.amount) for entry in entries] == expected
        self.charges[generation.pk] = expected

    @precondition(lambda self: self.generation_ids)
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        # Any generation, again and again: never charged, partly or fully refunded already.
        generation_id = self.generation_ids[data.draw(st.integers(0, len(self.generation_ids) - 1), label="which")]
        charges = self.charges[generation_id]
        charged = sum(taken for _, taken in charges)
        partly, exactly, more = st.integers(1, max(charged - 1, 1)), st.just(max(charged, 1)), st.just(charged + 2)
        amount = data.draw(partly | exactly | more, label="amount")

        result = refund(generation=Generation.objects.get(pk=generation_id), amount=amount)

        if generation_id in self.refunded:
            assert (result.refunded, result.already_refunded) == (0, True)
            return
        assert (result.refunded, result.already_refunded) == (min(amount, charged), False)
        left, expired_share = result.refunded, 0
        for pk, taken in reversed(charges):  # the last-taken batches get credits back first
            back = min(left, taken)
            left -= back
            batch = self.batches[pk]
            if batch.expires_at is not None and batch.expires_at <= self.clock.now:
                expired_share += back  # comes back in a fresh refund batch instead
            else:
                batch.remaining += back
        if expired_share:
            [fresh] = CreditBatch.objects.filter(account_id=self.user.pk).exclude(pk__in=self.batches)
            assert fresh.source == CreditBatch.Source.REFUND
            assert fresh.expires_at == self.clock.now + timedelta(days=django_settings.CREDIT_REFUND_GRACE_DAYS)
            self.batches[fresh.pk] = ModelBatch(expired_share, expired_share, fresh.expires_at)
        if result.refunded:
            self.refunded[generation_id] = result.refunded

    @rule(minutes=st.integers(1, 120))
    def time_passes(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))

    def expiries(self, *, expired: bool) -> list[ModelBatch]:
        """Batches with an expiry, those already expired (at this very second too) or those still to expire."""
        return [
            batch
            for batch in self.batches.values()
            if batch.expires_at is not None and (batch.expires_at <= self.clock.now) == expired
        ]

    @precondition(lambda self: self.expiries(expired=False))
    @rule(data=st.data())
    def time_reaches_an_expiry_to_the_second(self, data: st.DataObject) -> None:
        upcoming = sorted({batch.expires_at for batch in self.expiries(expired=False)})
        self.clock.now = data.draw(st.sampled_from(upcoming), label="expiry")

    @rule()
    def sweep(self) -> None:
        expired = self.expiries(expired=True)
        assert credits_expire_due(now=self.clock.now) == sum(batch.remaining for batch in expired)
        for batch in expired:
            batch.remaining = 0

    @invariant()
    def every_batch_matches_its_ledger_rows_and_the_model(self) -> None:
        batches = {batch.pk: batch for batch in CreditBatch.objects.filter(account_id=self.user.pk)}
        sums = dict(
            LedgerEntry.objects.filter(account_id=self.user.pk)
            .values("batch_id")
            .annotate(total=Sum("amount"))
            .values_list("batch_id", "total")
        )
        assert batches.keys() == self.batches.keys()
        for pk, batch in batches.items():
            assert 0 <= batch.remaining <= batch.amount
            assert batch.remaining == sums[pk] == self.batches[pk].remaining, pk

    @invariant()
    def every_balance_agrees(self) -> None:
        now = self.clock.now
        usable = self.usable()
        balance = balance_get(user=self.user, now=now)
        assert balance["credits"] == ledger_balance(user=self.user, now=now) == sum(b.remaining for _, b in usable)
        expiring = [batch for _, batch in usable if batch.expires_at is not None]
        if expiring:
            soonest = expiring[0].expires_at
            assert balance["next_expiration"] == {
                "credits": sum(batch.remaining for batch in expiring if batch.expires_at == soonest),
                "expires_at": soonest.isoformat().replace("+00:00", "Z"),
            }
        else:
            assert balance["next_expiration"] is None

    @invariant()
    def no_generation_is_refunded_more_than_it_was_charged(self) -> None:
        ledger = (
            LedgerEntry.objects.filter(account_id=self.user.pk, generation__isnull=False)
            .values("generation_id", "kind")
            .annotate(total=Sum("amount"))
        )
        totals = {(row["generation_id"], row["kind"]): row["total"] for row in ledger}
        for generation in Generation.objects.filter(user=self.user):
            charged = sum(taken for _, taken in self.charges[generation.pk])
            refunded = self.refunded.get(generation.pk, 0)
            assert 0 <= generation.credits_refunded <= generation.credits_charged
            assert (generation.credits_charged, generation.credits_refunded) == (charged, refunded)
            assert -totals.get((generation.pk, "charge"), 0) == charged
            assert totals.get((generation.pk, "refund"), 0) == refunded

    def teardown(self) -> None:
        try:
            # Write off everything expiring, so the next example's sweeps only meet its own user's batches.
            expiring = [batch for batch in self.batches.values() if batch.expires_at is not None]
            assert credits_expire_due(now=self.start + FAR_FUTURE) == sum(batch.remaining for batch in expiring)
        finally:
            self._exit_stack.close()


@pytest.mark.django_db
def test_it_keeps_batches_ledger_and_balances_in_step_through_any_sequence_of_movements():
    run_state_machine_as_test(
        CreditsMachine,
        settings=settings(
            max_examples=30, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
        ),
    )

    assert CreditBatch.objects.exists()
    assert billing_audit() == []


@pytest.mark.django_db
def test_it_fails_the_audit_command_on_a_hand_corrupted_batch_and_passes_on_clean_data(make_user, capsys):
    user = make_user(credits=10)
    generation = make_generation(user, credits_per_image=4)
    charge(user=user, amount=4, generation=generation)
    refund(generation=generation, amount=1)
    call_command("billing_audit")
    assert "Billing audit OK" in capsys.readouterr().out

    # What a bug or a manual SQL fix outside the services would leave behind.
    batch = CreditBatch.objects.get(account_id=user.pk)
    CreditBatch.objects.filter(pk=batch.pk).update(remaining=batch.remaining + 2)

    with pytest.raises(CommandError, match="1 problem"):
        call_command("billing_audit")
    assert f"batch {batch.pk}: remaining 9 but ledger sums to 7" in capsys.readouterr().err
