"""The admin site: the hub's name, readable times, numbers that fit, and no secret in a flash message."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from billing.services import credits_grant

pytestmark = pytest.mark.django_db


def test_it_is_branded_as_the_hub(admin_client):
    html = admin_client.get("/admin/").content.decode()

    assert "<title>Operations | GPT Image Hub admin</title>" in html
    assert "GPT Image Hub admin</a>" in html and "Django administration" not in html


def test_it_widens_number_inputs_so_big_amounts_fit(admin_client):
    html = admin_client.get("/admin/generations/imagemodel/gpt-image-2/change/").content.decode()

    assert re.search(r'<link rel="stylesheet" href="[^"]*css/admin[^"]*\.css">', html)
    assert 'type="number"' in html


def test_it_shows_the_next_expiration_as_a_readable_time(admin_client, user):
    expires = timezone.now() + timedelta(days=3)
    credits_grant(user=user, amount=5, expires_at=expires)

    html = admin_client.get(f"/admin/billing/creditaccount/{user.pk}/change/").content.decode()

    assert f"5 credits at {expires:%b} {expires.day}, {expires:%Y}, {expires:%H:%M} UTC" in html
    assert expires.isoformat()[:16] not in html


def test_it_never_puts_a_redemption_code_in_a_flash_message(admin_client):
    page = admin_client.post(
        "/admin/billing/redemptioncode/add/",
        {"count": "2", "credits": "30", "credit_expiry_days": "", "valid_days": "7", "max_uses": "1", "label": "Expo"},
    )

    codes = set(re.findall(r"GIH(?:-[0-9A-HJKMNP-TV-Z]{4}){4}", page.content.decode()))
    assert len(codes) == 2
    stored = [str(message) for message in get_messages(page.wsgi_request)]
    assert not any(code in text for code in codes for text in stored)
    assert not any(code in morsel.value for code in codes for morsel in admin_client.cookies.values())
    assert not any(code in str(value) for code in codes for value in admin_client.session.values())
