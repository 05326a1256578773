"""The dashboard's 30-day chart, the credits page's filters and CSV export, the generations page's filters:
each checked against ledger rows and generations the test creates through the billing services."""

import csv
import io
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from billing.models import LedgerEntry
from billing.services import credits_grant
from billing.tests.factories import charge as charge_generation
from billing.tests.factories import frozen_clock, make_generation
from billing.tests.factories import refund as refund_generation
from generations.models import Generation

NOW = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)
TODAY = NOW.date()
STATUSES = ("succeeded", "failed", "running", "queued")


def signed_in(user, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


def spend(user, *, days_ago: int, hour: int, charge: int, refund: int = 0, status: str = "succeeded") -> Generation:
    """A generation `days_ago` days before NOW, charged `charge` credits and refunded `refund` of them."""
    when = NOW.replace(hour=hour, minute=0) - timedelta(days=days_ago)
    with frozen_clock(when):
        generation = make_generation(user, n=1, credits_per_image=charge)
        charge_generation(user=user, amount=charge, generation=generation)
        if refund:
            refund_generation(generation=generation, amount=refund)
    # The model's created_at default holds the real clock function; the row's own time is set here.
    Generation.objects.filter(pk=generation.pk).update(status=status, created_at=when)
    return generation


@pytest.fixture
def history(make_user):
    """Two users' credit histories over 40 days; the first one's is what the pages must show."""
    user = make_user("chart@example.com")
    other = make_user("other@example.com", credits=500)
    with frozen_clock(NOW - timedelta(days=45)):
        # Two batches, so one charge can take from both and write two ledger rows.
        credits_grant(user=user, amount=10, note="small batch", expires_at=NOW + timedelta(days=300))
        credits_grant(user=user, amount=1000, note="=HYPERLINK(\"http://evil.example\")")
    spend(user, days_ago=35, hour=10, charge=9)  # outside the window
    spend(user, days_ago=29, hour=0, charge=5)  # the window's first day, at midnight; 1 + 4 from two batches
    spend(user, days_ago=12, hour=9, charge=8, refund=8, status="failed")
    spend(user, days_ago=12, hour=23, charge=6)
    spend(user, days_ago=3, hour=14, charge=24, refund=10)
    spend(user, days_ago=0, hour=1, charge=3)
    spend(user, days_ago=0, hour=2, charge=4, status="running")
    spend(user, days_ago=0, hour=3, charge=2, status="queued")
    spend(other, days_ago=0, hour=4, charge=50)  # another account: never counted
    return user


def ledger_per_day(user, kind: str) -> dict[str, int]:
    """The truth: the user's ledger rows summed per UTC day, in the last 30 days."""
    first = TODAY - timedelta(days=29)
    totals: dict[str, int] = defaultdict(int)
    for entry in LedgerEntry.objects.filter(account_id=user.pk, kind=kind):
        day = entry.created_at.astimezone(UTC).date()
        if first <= day <= TODAY:
            totals[day.isoformat()] += abs(entry.amount)
    return dict(totals)


def generations_per_day(user) -> dict[tuple[str, str], int]:
    first = TODAY - timedelta(days=29)
    return dict(
        Counter(
            (generation.created_at.astimezone(UTC).date().isoformat(), generation.status)
            for generation in Generation.objects.filter(user=user)
            if generation.created_at.astimezone(UTC).date() >= first
        )
    )


def bars(page: str) -> dict[tuple[str, str], int]:
    found = re.findall(r'data-day="([\d-]+)" data-series="(\w+)" data-value="(\d+)"', page)
    return {(day, series): int(value) for day, series, value in found}


def table(page: str) -> dict[tuple[str, str], int]:
    cells = {}
    for day, row in re.findall(r'<tr data-day="([\d-]+)">(.*?)</tr>', page):
        for series, value in re.findall(r'data-series="(\w+)">(\d+)<', row):
            cells[(day, series)] = int(value)
    return cells


def test_it_charts_the_credits_spent_and_refunded_per_day_as_the_ledger_has_them(history):
    with frozen_clock(NOW):
        page = signed_in(history).get(reverse("accounts:home")).content.decode()
    drawn, listed = bars(page), table(page)
    for kind, series in ((LedgerEntry.Kind.CHARGE, "spent"), (LedgerEntry.Kind.REFUND, "refunded")):
        expected = ledger_per_day(history, kind)
        assert {day: value for (day, name), value in drawn.items() if name == series} == expected
        assert {day: value for (day, name), value in listed.items() if name == series and value} == expected
    assert drawn[(TODAY.isoformat(), "spent")] == 3 + 4 + 2
    assert drawn[((TODAY - timedelta(days=12)).isoformat(), "spent")] == 8 + 6
    assert drawn[((TODAY - timedelta(days=29)).isoformat(), "spent")] == 5  # two ledger rows
    assert ((TODAY - timedelta(days=35)).isoformat(), "spent") not in drawn
    spent = sum(ledger_per_day(history, LedgerEntry.Kind.CHARGE).values())
    assert re.search(rf'data-testid="usage-spent"><strong>{spent}</strong>', page)
    assert re.search(r'data-testid="usage-refunded"><strong>18</strong>', page)


def test_it_charts_the_generations_per_day_by_status(history):
    with frozen_clock(NOW):
        page = signed_in(history).get(reverse("accounts:home")).content.decode()
    expected = generations_per_day(history)
    drawn = {key: value for key, value in bars(page).items() if key[1] in STATUSES}
    assert drawn == expected
    assert drawn[(TODAY.isoformat(), "running")] == 1
    assert re.search(r'data-testid="usage-generations"><strong>7</strong>', page)


def test_it_draws_an_empty_month_without_bars(make_user):
    page = signed_in(make_user()).get(reverse("accounts:home")).content.decode()
    assert "<svg" in page and 'class="bar ' not in page
    assert "No credits spent and no generations in the last 30 days." in page


def test_it_draws_the_chart_in_each_language(history):
    for language, words in (("zh-hans", "最近 30 天"), ("th", "30 วันที่ผ่านมา")):
        with frozen_clock(NOW):
            page = signed_in(history, language).get(reverse("accounts:home")).content.decode()
        assert words in page and bars(page)


def export(client: Client, **params) -> list[dict]:
    response = client.get(reverse("accounts:credits_export"), params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="credits-')
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_it_exports_every_ledger_row_of_the_account_and_no_other(history):
    rows = export(signed_in(history))
    entries = LedgerEntry.objects.filter(account_id=history.pk)
    assert len(rows) == entries.count()
    assert sum(int(row["amount"]) for row in rows) == sum(entry.amount for entry in entries)
    for kind in LedgerEntry.Kind.values:
        assert sum(int(row["amount"]) for row in rows if row["kind"] == kind) == sum(
            entry.amount for entry in entries if entry.kind == kind
        )
    per_day = defaultdict(int)
    for row in rows:
        if row["kind"] == "charge":
            per_day[row["created_at"][:10]] -= int(row["amount"])
    assert {day: total for day, total in per_day.items() if day >= (TODAY - timedelta(days=29)).isoformat()} == (
        ledger_per_day(history, LedgerEntry.Kind.CHARGE)
    )
    assert {row["generation_id"] for row in rows if row["kind"] == "charge"} == set(
        Generation.objects.filter(user=history).values_list("pk", flat=True)
    )


def test_it_keeps_a_formula_in_a_note_as_text(history):
    [grant] = [row for row in export(signed_in(history)) if row["note"].startswith("'=")]
    assert grant["note"] == "'=HYPERLINK(\"http://evil.example\")" and grant["amount"] == "1000"


def test_it_filters_the_export_by_kind_and_inclusive_utc_days(history):
    day = (TODAY - timedelta(days=12)).isoformat()
    rows = export(signed_in(history), kind="charge", date_from=day, date_to=day)
    assert sorted(int(row["amount"]) for row in rows) == sorted(
        entry.amount
        for entry in LedgerEntry.objects.filter(account_id=history.pk, kind="charge")
        if entry.created_at.date().isoformat() == day
    )
    assert len(rows) == 2 and {row["created_at"][:10] for row in rows} == {day}  # 09:00 and 23:00 of that day
    assert export(signed_in(history), kind="refund", date_from=TODAY.isoformat()) == []


@pytest.mark.parametrize(
    "params", [{"date_from": "yesterday"}, {"kind": "gift"}, {"date_from": "2026-12-07", "date_to": "2026-12-01"}]
)
def test_it_refuses_bad_export_filters_with_a_400(history, params):
    response = signed_in(history).get(reverse("accounts:credits_export"), params)
    assert response.status_code == 400 and response.content


def test_it_filters_the_credits_page_and_links_the_filtered_export(history):
    client = signed_in(history)
    page = client.get(reverse("accounts:credits"), {"kind": "refund"}).content.decode()
    assert page.count('class="badge badge-refund"') == LedgerEntry.objects.filter(
        account_id=history.pk, kind="refund"
    ).count()
    assert "badge-charge" not in page
    assert 'href="/credits/export.csv?kind=refund"' in page
    bad = client.get(reverse("accounts:credits"), {"date_from": "2026-12-07", "date_to": "2026-12-01"})
    assert bad.status_code == 200 and "The start date must be on or before the end date." in bad.content.decode()


def test_it_filters_the_generations_page_by_status_model_and_date(history):
    client = signed_in(history)
    failed = client.get(reverse("accounts:generations"), {"status": "failed"}).content.decode()
    [only] = Generation.objects.filter(user=history, status="failed")
    assert only.pk in failed and failed.count('class="gen-card"') == 1
    today = client.get(reverse("accounts:generations"), {"date_from": TODAY.isoformat(), "model": "gpt-image-2"})
    assert today.content.decode().count('class="gen-card"') == 3
    none = client.get(reverse("accounts:generations"), {"date_to": (TODAY - timedelta(days=100)).isoformat()})
    assert "Nothing matches these filters" in none.content.decode()
