"""GET /api/v1/models: public, OpenAI's list shape, the documented gpt-image-2, live from the database."""

import pytest

from generations.models import ImageModel, ModelPrice

pytestmark = pytest.mark.django_db

MODELS_URL = "/api/v1/models"
# As the API docs list them, in order.
DOCUMENTED_RATIOS = "auto, 1:1, 4:3, 3:4, 3:2, 2:3, 16:9, 9:16, 5:4, 4:5, 21:9, 9:21, 2:1, 1:2, 3:1, 1:3".split(", ")


def list_models(client) -> dict:
    response = client.get(MODELS_URL)
    assert response.status_code == 200
    return response.json()


def gpt_image_2(client) -> dict:
    return next(model for model in list_models(client)["data"] if model["id"] == "gpt-image-2")


def price_for(model: dict, quality: str, pixels: int) -> int:
    """The price row the docs' pricing implies: the smallest bracket of the quality that covers the image."""
    rows = [row for row in model["pricing"] if row["quality"] == quality and row["max_pixels"] >= pixels]
    return min(rows, key=lambda row: row["max_pixels"])["credits_per_image"]


def test_it_lists_models_in_openais_shape_without_authentication(client):
    body = list_models(client)

    assert set(body) == {"object", "data"}
    assert body["object"] == "list"
    assert [model["id"] for model in body["data"]] == ["gpt-image-2"]
    model = body["data"][0]
    assert model["object"] == "model"
    assert isinstance(model["created"], int) and not isinstance(model["created"], bool)
    assert model["owned_by"] == "openai"


def test_it_ignores_a_bad_api_key_on_the_public_list(client):
    response = client.get(MODELS_URL, HTTP_AUTHORIZATION="Bearer gih_live_not-a-real-key")

    assert response.status_code == 200


def test_it_describes_gpt_image_2_as_documented(client):
    model = gpt_image_2(client)

    assert model["display_name"] == "GPT IMAGE 2"
    assert model["provider"] == "openai"
    assert model["provider_model"] == "gpt-image-2"
    assert model["defaults"] == {"aspect_ratio": "auto", "quality": "1K"}
    assert {"1K", "2K", "4K"} <= set(model["qualities"])
    assert {"auto", "low", "medium", "high"} <= set(model["qualities"])
    assert model["aspect_ratios"] == DOCUMENTED_RATIOS
    assert len(model["aspect_ratios"]) == 16
    assert model["reference_image_limit"] == 16


def test_it_prices_gpt_image_2_as_documented(client):
    model = gpt_image_2(client)

    assert model["credits_per_image"] == 1  # "1 / image" at the defaults (auto, 1K)
    assert price_for(model, "1K", 1024 * 1024) == 1
    assert price_for(model, "high", 1024 * 1024) == 8  # the docs' example: 8 credits for high 1024x1024
    for row in model["pricing"]:
        assert set(row) == {"quality", "max_pixels", "credits_per_image"}
        assert row["credits_per_image"] > 0


def test_it_hides_a_disabled_model(client):
    ImageModel.objects.create(
        id="test-model", display_name="Test", provider_model="test-1", sort_order=5, tier_qualities=["1K"]
    )
    assert [model["id"] for model in list_models(client)["data"]] == ["gpt-image-2", "test-model"]

    ImageModel.objects.filter(pk="gpt-image-2").update(enabled=False)

    assert [model["id"] for model in list_models(client)["data"]] == ["test-model"]


def test_it_reflects_a_price_change_at_once(client):
    assert gpt_image_2(client)["credits_per_image"] == 1

    # What a staff edit in the admin does: save the row.
    price = ModelPrice.objects.get(model_id="gpt-image-2", quality="1K")
    price.credits_per_image = 2
    price.save()
    high = ModelPrice.objects.filter(model_id="gpt-image-2", quality="high").order_by("max_pixels").first()
    high.credits_per_image = 9
    high.save()

    model = gpt_image_2(client)
    assert model["credits_per_image"] == 2
    assert price_for(model, "high", 1024 * 1024) == 9
