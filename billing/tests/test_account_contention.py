"""One account's requests pile up on its own row lock: refusals stay cheap, waits stay bounded.

Postgres, real transactions: a second thread holds the account lock (as a long charge
would) while the test charges. Each test checks *that* the call came back while the lock
was still held, never how fast.
"""

import threading
from contextlib import contextmanager

import pytest
from django.db import connection, transaction

from billing.models import CreditAccount, LedgerEntry
from billing.selectors import balance_get
from billing.services import AccountBusy, AlreadyCharged, InsufficientCredits, credits_charge, credits_precheck
from billing.tests.factories import make_generation
from generations.models import Generation
from generations.tests.factories import GENERATIONS_URL, api_client_for
from gih.slots import account_slot, account_slots_in_use

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks and lock_timeout are Postgres behaviour")


@contextmanager
def account_locked_elsewhere(user):
    """Another connection holds the user's account row lock until the block ends."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                CreditAccount.objects.select_for_update().get(pk=user.pk)
                locked.set()
                release.wait(timeout=120)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(timeout=60)
    try:
        yield release
    finally:
        release.set()
        holder.join(timeout=60)


def test_it_refuses_a_charge_the_balance_cannot_cover_without_waiting_for_the_lock(make_user):
    user = make_user(credits=1)
    with account_locked_elsewhere(user) as release:
        with pytest.raises(InsufficientCredits):
            credits_precheck(user=user, amount=5)
        credits_precheck(user=user, amount=1)  # enough: no answer until the charge itself
        assert not release.is_set()  # answered while the lock was still held
    assert balance_get(user=user)["credits"] == 1


def test_the_api_answers_402_for_an_account_without_credits_while_its_lock_is_held(make_user):
    user = make_user(credits=1)
    client = api_client_for(user)
    body = {"model": "gpt-image-2", "prompt": "too expensive", "size": "1024x1024", "quality": "high"}
    with account_locked_elsewhere(user) as release:
        response = client.post(GENERATIONS_URL, body, format="json")
        assert not release.is_set()
    assert response.status_code == 402, response.content
    assert not Generation.objects.exists()


def test_it_gives_up_on_a_held_account_lock_with_account_busy_and_writes_nothing(make_user, settings):
    settings.ACCOUNT_LOCK_TIMEOUT_MS = 200
    user = make_user(credits=10)
    generation = make_generation(user)
    with account_locked_elsewhere(user) as release:
        with pytest.raises(AccountBusy):
            credits_charge(user=user, amount=2, generation=generation)
        assert not release.is_set()
    assert not LedgerEntry.objects.filter(generation=generation).exists()
    assert balance_get(user=user)["credits"] == 10
    # Once the lock is free the same charge goes through.
    credits_charge(user=user, amount=2, generation=generation)
    assert balance_get(user=user)["credits"] == 8


def test_the_api_answers_a_busy_account_with_a_503_and_retry_after(make_user, settings):
    settings.ACCOUNT_LOCK_TIMEOUT_MS = 200
    user = make_user(credits=10)
    client = api_client_for(user)
    body = {"model": "gpt-image-2", "prompt": "a busy account", "aspect_ratio": "1:1", "quality": "1K"}
    with account_locked_elsewhere(user):
        response = client.post(GENERATIONS_URL, body, format="json")
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "account_busy"
    assert response["Retry-After"] == "1"
    assert not Generation.objects.exists()
    assert balance_get(user=user)["credits"] == 10


def test_it_lets_only_a_few_charges_of_one_account_run_at_once(make_user, settings):
    settings.ACCOUNT_MAX_CONCURRENT_CHARGES = 2
    settings.ACCOUNT_SLOT_WAIT_SECONDS = 0.2
    tenant, bystander = make_user(), make_user()
    inside, release = threading.Barrier(3), threading.Event()

    def hold() -> None:
        with account_slot(tenant.pk):
            inside.wait(timeout=30)
            release.wait(timeout=60)

    holders = [threading.Thread(target=hold) for _ in range(2)]
    for holder in holders:
        holder.start()
    inside.wait(timeout=30)
    try:
        with pytest.raises(AccountBusy), account_slot(tenant.pk):
            pass
        with account_slot(bystander.pk):  # another account is not affected
            pass
        assert account_slots_in_use(tenant.pk) == 2
    finally:
        release.set()
        for holder in holders:
            holder.join(timeout=30)
    assert account_slots_in_use(tenant.pk) == 0
    with account_slot(tenant.pk):  # free again
        pass


def test_many_threads_charging_one_generation_charge_it_once(make_user):
    """The double-charge refusal reads the ledger after the account lock is granted (billing.services.ledger._take):
    of 12 threads charging the same committed generation at once, one charges and the rest are refused."""
    user = make_user(credits=100)
    generation = make_generation(user, n=1, credits_per_image=3)
    start, outcomes = threading.Barrier(12), []

    def charge_it() -> None:
        try:
            start.wait(timeout=30)
            with transaction.atomic():
                outcomes.append(credits_charge(user=user, amount=3, generation=generation))
        except AlreadyCharged:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=charge_it) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes, key=str) == [3] + ["refused"] * 11
    assert LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.CHARGE).count() == 1
    assert balance_get(user=user)["credits"] == 97


def test_the_bounded_lock_returns_the_account_as_the_orm_would(make_user):
    from billing.locking import lock_account_bounded

    user = make_user(account_type="PRO")
    with transaction.atomic():
        locked = lock_account_bounded(user.pk, timeout_ms=1000)
    stored = CreditAccount.objects.get(pk=user.pk)
    assert (locked.pk, locked.user_id, locked.account_type, locked.created_at) == (
        stored.pk, stored.user_id, "PRO", stored.created_at
    )  # fmt: skip
    assert locked.created_at.tzinfo is not None and not locked._state.adding
