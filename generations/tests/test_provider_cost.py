"""Provider accounting: the provider's usage and request id on each generation, its cost in USD, the admin's margin."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.models import User
from generations.models import Generation, ProviderPrice
from generations.tests.factories import GENERATIONS_URL

pytestmark = pytest.mark.django_db

# Numbers the hub's own estimate would never produce for this request (providers/usage.py):
# only a usage taken from the provider's answer gives them.
PROVIDER_USAGE = {
    "input_tokens": 1100,
    "input_tokens_details": {"text_tokens": 100, "image_tokens": 1000},
    "output_tokens": 4000,
    "total_tokens": 5100,
}
# 100 x $5 + 1000 x $10 + 4000 x $40, per million tokens (the seeded gpt-image-2 prices)
PROVIDER_COST = Decimal("0.170500")
BODY = {"model": "gpt-image-2", "prompt": "A lighthouse at dusk", "size": "1024x1024", "quality": "high"}


def _generate(api, path: str = GENERATIONS_URL) -> Generation:
    response = api.post(path, BODY, format="json")
    assert response.status_code == 200, response.content
    generation_id = response.json().get("id") or response["x-gih-generation-id"]
    return Generation.objects.get(pk=generation_id)


def test_it_stores_the_providers_usage_request_id_and_cost(api, user, openai_standin, media_cleanup):
    openai_standin.usage = PROVIDER_USAGE

    generation = _generate(api)

    assert generation.token_usage == PROVIDER_USAGE
    assert generation.provider_request_id.startswith("req_") and len(generation.provider_request_id) == 36
    assert generation.provider_cost_usd == PROVIDER_COST
    assert generation.credits_charged == 8


def test_the_v1_face_reports_and_costs_the_same_usage(api, user, openai_standin, media_cleanup):
    openai_standin.usage = PROVIDER_USAGE

    response = api.post("/v1/images/generations", BODY, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["usage"] == PROVIDER_USAGE
    generation = Generation.objects.get(pk=response["x-gih-generation-id"])
    assert generation.provider_cost_usd == PROVIDER_COST


def test_a_new_provider_price_costs_later_generations_only(api, user, openai_standin, media_cleanup):
    openai_standin.usage = PROVIDER_USAGE
    first = _generate(api)
    ProviderPrice.objects.filter(model_id="gpt-image-2").update(output_usd_per_million=Decimal("20"))

    second = _generate(api)

    first.refresh_from_db()
    assert first.provider_cost_usd == PROVIDER_COST
    assert second.provider_cost_usd == Decimal("0.090500")  # 500 + 10000 + 4000 x 20


def test_it_estimates_the_cost_of_providers_that_do_not_count_tokens(api, user, media_cleanup):
    """The local renderer reports no usage: the hub's estimate (high 1024x1024: 4160 output tokens) is costed."""
    generation = _generate(api)

    usage = generation.token_usage
    assert usage["output_tokens"] == 4160
    expected = (
        usage["input_tokens_details"]["text_tokens"] * Decimal(5) + 4160 * Decimal(40)
    ) / Decimal(1_000_000)
    assert generation.provider_cost_usd == expected.quantize(Decimal("0.000001"))


def test_it_leaves_the_cost_unknown_without_a_provider_price(api, user, openai_standin, media_cleanup):
    ProviderPrice.objects.filter(model_id="gpt-image-2").delete()

    generation = _generate(api)

    assert generation.token_usage is not None and generation.provider_cost_usd is None


def test_the_admin_shows_credits_provider_cost_and_margin(api, user, openai_standin, media_cleanup, settings):
    settings.CREDIT_VALUE_USD = Decimal("0.05")
    openai_standin.usage = PROVIDER_USAGE
    generation = _generate(api)
    staff = User.objects.create_user(email="ops@example.com", password="pw-Secret-123", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_generation"))
    client = Client()
    client.force_login(staff)

    listing = client.get("/admin/generations/generation/").content.decode()
    response = client.get(f"/admin/generations/generation/{generation.pk}/change/")
    assert response.status_code == 200, (response.status_code, response.headers)
    page = response.content.decode()

    assert "Provider cost (USD)" in listing and "Margin (USD)" in listing
    assert "$0.1705" in listing and "$0.2295" in listing  # 8 credits x $0.05 = $0.40, less $0.1705
    assert "$0.4000" in page
    assert "$0.2295" in page


def test_the_admin_shows_a_loss_as_a_negative_margin(api, user, openai_standin, media_cleanup, settings):
    settings.CREDIT_VALUE_USD = Decimal("0.01")
    openai_standin.usage = PROVIDER_USAGE
    generation = _generate(api)
    staff = User.objects.create_superuser(email="root@example.com", password="pw-Secret-123")
    client = Client()
    client.force_login(staff)

    page = client.get(f"/admin/generations/generation/{generation.pk}/change/").content.decode()

    assert "-$0.0905" in page  # $0.08 of credits against $0.1705 at the provider
