"""The admin overview: the hub's last 30 days from the generations and ledger rows the test makes."""

import re
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from accounts.models import User
from billing.models import CreditBatch
from billing.services import credits_grant
from billing.tests.factories import make_generation
from generations.models import Generation
from generations.tests.factories import GENERATIONS_URL
from generations.tests.test_provider_cost import BODY, PROVIDER_USAGE

pytestmark = pytest.mark.django_db

OVERVIEW = "/admin/generations/generation/overview/"


def _staff(*codenames: str) -> Client:
    staff = User.objects.create_user(email="ops@example.com", password="pw-Secret-123", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(staff)
    return client


def _row(html: str, row_id: str) -> list[str]:
    row = re.search(rf'<tr id="{row_id}">(.*?)</tr>', html, re.S).group(1)
    return [re.sub(r"\s+", " ", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]


def test_it_shows_each_days_generations_failures_credits_and_provider_cost(
    api, user, openai_standin, media_cleanup, settings
):
    settings.CREDIT_VALUE_USD = Decimal("0.05")
    openai_standin.usage = PROVIDER_USAGE
    assert api.post(GENERATIONS_URL, BODY, format="json").status_code == 200  # 8 credits, $0.1705 at the provider
    openai_standin.set_mode("http_500")
    assert api.post(GENERATIONS_URL, BODY, format="json").status_code == 500  # charged 8, refunded 8
    credits_grant(user=user, amount=500, source=CreditBatch.Source.PURCHASE, note="Checkout order")
    credits_grant(user=user, amount=7, note="goodwill")  # a staff grant is not a sale
    earlier = make_generation(user)
    Generation.objects.filter(pk=earlier.pk).update(created_at=timezone.now() - timedelta(days=29))
    too_old = make_generation(user)
    Generation.objects.filter(pk=too_old.pk).update(created_at=timezone.now() - timedelta(days=31))

    response = _staff("view_generation", "view_ledgerentry").get(OVERVIEW)

    assert response.status_code == 200
    html = response.content.decode()
    today = timezone.now().astimezone(UTC).date()
    assert _row(html, f"day-{today:%Y-%m-%d}")[1:] == ["2", "1", "500", "16", "8", "$0.1705", "$0.4000", "$0.2295"]
    assert _row(html, f"day-{today - timedelta(days=29):%Y-%m-%d}")[1:3] == ["1", "0"]
    assert f"day-{today - timedelta(days=31):%Y-%m-%d}" not in html
    assert _row(html, "overview-totals")[1:] == ["3", "1", "500", "16", "8", "$0.1705", "$0.4000", "$0.2295"]
    # Drawn on the server: one SVG per chart, a bar per non-zero value, nothing loaded from elsewhere.
    assert html.count("<svg viewBox=") == 3
    assert html.count('class="bar bar-failures"') == 1 and html.count('class="bar bar-generations"') == 2
    assert html.count('class="bar bar-sold"') == 1 and html.count('class="bar bar-provider-cost"') == 1
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', html)


def test_it_shows_an_empty_month(settings):
    response = _staff("view_generation", "view_ledgerentry").get(OVERVIEW)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Nothing happened in the last 30 days." in html and 'class="bar ' not in html


def test_it_is_for_staff_who_may_see_generations_and_the_ledger():
    assert _staff("view_generation").get(OVERVIEW).status_code == 403
    Client().get(OVERVIEW)  # anonymous: redirected to the log-in
    assert Client().get(OVERVIEW).status_code == 302


def test_the_admin_index_links_to_it():
    html = _staff("view_generation", "view_ledgerentry").get("/admin/").content.decode()

    assert f'href="{OVERVIEW}"' in html
