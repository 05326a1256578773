"""The playground's price quote: the API's own pricing, the balance after, and a way out when credits are short."""

import pytest
from django.test import Client
from django.urls import reverse

from billing.models import LedgerEntry
from billing.tests.factories import make_generation
from generations.models import Generation
from generations.tests.factories import api_client_for

SELECTIONS = [
    {"model": "gpt-image-2", "aspect_ratio": "1:1", "quality": "1K", "n": "1"},
    {"model": "gpt-image-2", "aspect_ratio": "16:9", "quality": "2K", "n": "2"},
    {"model": "gpt-image-2", "size": "1024x1024", "quality": "high", "n": "1"},
    {"model": "gpt-image-2", "size": "1536x1024", "quality": "low", "n": "3"},
    {"model": "gpt-image-2"},
]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def signed_in(user, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


def quote(client: Client, **params):
    return client.get(reverse("accounts:playground_quote"), params)


@pytest.mark.parametrize("selection", SELECTIONS)
def test_it_quotes_what_the_api_then_charges(make_user, selection):
    user = make_user(credits=200)
    priced = quote(signed_in(user), **selection).json()

    body = {**selection, "prompt": "A lighthouse at dawn"}
    if "n" in body:
        body["n"] = int(body["n"])
    response = api_client_for(user).post("/api/v1/images/generations", body, format="json")
    assert response.status_code == 200, response.content
    charged = -sum(entry.amount for entry in LedgerEntry.objects.filter(account_id=user.pk, kind="charge"))
    assert priced["credits"] == charged == response.json()["usage"]["credits_requested"]
    assert priced["credits"] == priced["credits_per_image"] * priced["n"]
    assert priced["size"] == response.json()["size"]
    assert priced["balance"] == 200 and priced["balance_after"] == 200 - charged and priced["enough"] is True


def test_it_never_charges_or_creates_a_generation(user):
    before = LedgerEntry.objects.count()
    for _ in range(3):
        assert quote(signed_in(user), model="gpt-image-2", quality="4K", n="4").status_code == 200
    assert LedgerEntry.objects.count() == before and not Generation.objects.exists()


def test_it_says_when_the_balance_is_short(make_user):
    priced = quote(signed_in(make_user(credits=5)), model="gpt-image-2", size="1024x1024", quality="high").json()
    assert priced["credits"] == 8 and priced["balance_after"] == -3 and priced["enough"] is False


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"model": "gpt-image-2", "size": "1024x1024", "quality": "2K"}, "size"),
        ({"model": "gpt-image-2", "n": "9"}, "n"),
        ({"model": "no-such-model"}, "model"),
        ({}, "model"),
        ({"model": "gpt-image-2", "size": "12x12"}, "size"),
    ],
)
def test_it_refuses_a_selection_the_api_would_refuse(user, params, field):
    response = quote(signed_in(user), **params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["message"].startswith(field)


def test_it_asks_anonymous_visitors_to_log_in(db):
    response = Client().get(reverse("accounts:playground_quote"), {"model": "gpt-image-2"})
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_it_shows_the_default_selections_price_with_the_page(make_user):
    page = signed_in(make_user(credits=40)).get(reverse("accounts:playground")).content.decode()
    assert 'data-state="ok"' in page
    assert '<strong data-quote="credits">1</strong>' in page  # gpt-image-2 at its defaults: 1K
    assert '<strong data-quote="balance_after">39</strong>' in page
    assert 'id="generate-button" disabled' not in page


@pytest.mark.parametrize(
    ("language", "short"),
    [("en", "Not enough credits for this request."), ("zh-hans", "积分不足"), ("th", "เครดิตไม่พอ")],
)
def test_it_points_to_the_credits_page_when_credits_are_short(make_user, language, short):
    page = signed_in(make_user(), language).get(reverse("accounts:playground")).content.decode()
    assert 'data-state="short"' in page and short in page
    assert f'href="{reverse("billing:buy")}"' in page and f'href="{reverse("accounts:credits")}#redeem"' in page
    assert 'id="generate-button" disabled' in page


@pytest.mark.parametrize("language", ["en", "zh-hans", "th"])
def test_it_shows_how_long_an_unfinished_generation_has_been_running(user, language):
    generation = make_generation(user)
    page = signed_in(user, language).get(reverse("accounts:generation_detail", args=[generation.pk])).content.decode()
    assert f'<span id="elapsed" data-since="{int(generation.created_at.timestamp())}">0</span>' in page
    assert "setTimeout(poll, 2000)" in page
