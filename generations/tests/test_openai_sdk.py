"""The official OpenAI Python SDK works against the hub with only base_url and api_key changed."""

import io

import pytest
import requests
from openai import OpenAI
from PIL import Image

from accounts.services import api_key_create
from billing.selectors import balance_get

pytestmark = pytest.mark.django_db(transaction=True)


def _png(colour: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def sdk(live_server, make_user):
    user = make_user("sdk@example.com", credits=50)
    client = OpenAI(base_url=f"{live_server.url}/api/v1", api_key=api_key_create(user=user).raw_key, max_retries=0)
    return user, client


def test_it_lists_models_through_the_sdk(sdk):
    _, client = sdk
    models = client.models.list()
    assert [model.id for model in models.data] == ["gpt-image-2"]
    assert models.data[0].owned_by == "openai"


def test_it_generates_images_through_the_sdk(sdk):
    user, client = sdk
    result = client.images.generate(model="gpt-image-2", prompt="A red bicycle", size="1024x1024", quality="high", n=2)
    assert isinstance(result.created, int)
    assert len(result.data) == 2
    response = requests.get(result.data[0].url, timeout=10)
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.content)).size == (1024, 1024)
    assert balance_get(user=user)["credits"] == 50 - 2 * 8


def test_it_edits_with_reference_images_through_the_sdk(sdk):
    user, client = sdk
    result = client.images.edit(
        model="gpt-image-2",
        image=[("first.png", _png("red"), "image/png"), ("second.png", _png("blue"), "image/png")],
        prompt="Combine both into a product shot",
        size="1536x1024",
        quality="low",
    )
    assert len(result.data) == 1
    image = Image.open(io.BytesIO(requests.get(result.data[0].url, timeout=10).content))
    assert image.size == (1536, 1024)
    assert balance_get(user=user)["credits"] == 50 - 1


def test_it_raises_the_sdk_error_types_for_hub_errors(sdk):
    import openai

    _, client = sdk
    with pytest.raises(openai.BadRequestError) as error:
        client.images.generate(model="gpt-image-2", prompt="x", size="10x10")
    assert error.value.body == {"message": error.value.body["message"], "code": "invalid_request"}
    assert error.value.body["message"].startswith("size:")
    bad_key = OpenAI(base_url=client.base_url, api_key="gih_live_" + "x" * 32, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as error:
        bad_key.images.generate(model="gpt-image-2", prompt="x")
    assert error.value.body["code"] == "invalidApiKey"
