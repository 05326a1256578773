"""Postgres threads racing for one redemption code: the conditional UPDATE grants exactly the uses it has."""

import pytest
from django.core.cache import cache

from billing import codes
from billing.codes import CodeTerms, redemption_codes_create
from billing.models import CreditBatch, LedgerEntry, Redemption, RedemptionCode
from billing.redeeming import RedeemFailed, redeem
from billing.selectors import balance_get, billing_audit
from testsupport.concurrency import run_together

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def clean_counters():
    cache.clear()
    yield
    cache.clear()


def test_twenty_parallel_redemptions_of_a_single_use_code_grant_it_once(make_user):
    users = [make_user() for _ in range(20)]
    raw = redemption_codes_create(count=1, terms=CodeTerms(credits=40))[0]

    results = run_together(20, lambda index: redeem(user=users[index], raw_code=raw))

    won = [result for result in results if not isinstance(result, Exception)]
    lost = [result for result in results if isinstance(result, RedeemFailed)]
    assert (len(won), len(lost)) == (1, 19), results
    assert {failure.code for failure in lost} == {"invalid_code"}
    assert RedemptionCode.objects.get().uses == 1
    assert CreditBatch.objects.filter(source="redemption").count() == 1 == Redemption.objects.count()
    assert sum(balance_get(user=user)["credits"] for user in users) == 40
    assert billing_audit() == []


def test_the_same_user_redeeming_one_code_twenty_times_at_once_gets_it_once(make_user):
    user = make_user()
    raw = redemption_codes_create(count=1, terms=CodeTerms(credits=40, max_uses=20))[0]

    results = run_together(20, lambda _: redeem(user=user, raw_code=raw))

    assert sum(not isinstance(result, Exception) for result in results) == 1, results
    assert RedemptionCode.objects.get().uses == 1
    assert balance_get(user=user)["credits"] == 40
    assert billing_audit() == []


def test_twenty_users_on_a_five_use_code_get_exactly_five_grants(make_user):
    users = [make_user() for _ in range(20)]
    raw = redemption_codes_create(count=1, terms=CodeTerms(credits=10, max_uses=5))[0]
    spelled = [raw, raw.lower(), raw.replace("-", " ")]  # people type it differently; it is one code

    results = run_together(20, lambda index: redeem(user=users[index], raw_code=spelled[index % 3]))

    assert sum(not isinstance(result, Exception) for result in results) == 5, results
    assert all(isinstance(result, RedeemFailed) for result in results if isinstance(result, Exception))
    code = RedemptionCode.objects.get()
    assert code.uses == 5 == code.redemptions.count()
    assert LedgerEntry.objects.filter(batch__source="redemption").count() == 5
    assert sorted(balance_get(user=user)["credits"] for user in users) == [0] * 15 + [10] * 5
    assert billing_audit() == []


def test_twenty_parallel_wrong_guesses_count_as_at_most_ten_attempts(make_user):
    user = make_user()
    guesses = [codes.generate_code() for _ in range(20)]

    results = run_together(20, lambda index: redeem(user=user, raw_code=guesses[index]))

    assert sorted(result.code for result in results) == ["invalid_code"] * 10 + ["rate_limited"] * 10
