"""The official OpenAI Python SDK against a live hub on /v1, reading results exactly as OpenAI's guides do.

`OpenAI(base_url=f"{host}/v1", api_key="gih_live_…")` and nothing else changed: sync,
async and streaming, generate and edit, output options, and the SDK's own error
classes. The hub calls the OpenAI stand-in over real HTTP, so each image also
passes through the OpenAI adapter (and its upstream stream when streaming).
"""

import asyncio
import base64
import io

import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from PIL import Image

from accounts.services import api_key_create
from billing.selectors import balance_get, billing_audit
from generations.models import Generation

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("generation_files_cleanup")]


def _png(colour: str = "red", size: tuple[int, int] = (64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _open(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


@pytest.fixture
def account(live_server, make_user, openai_standin):
    user = make_user("sdk@example.com", credits=100)
    return user, api_key_create(user=user).raw_key, f"{live_server.url}/v1"


@pytest.fixture
def client(account):
    _, raw_key, base_url = account
    return OpenAI(base_url=base_url, api_key=raw_key)


def test_it_generates_b64_json_images_as_openai_s_guide_reads_them(account, client):
    user, _, _ = account

    result = client.images.generate(model="gpt-image-2", prompt="A red bicycle", n=2, size="1024x1536", quality="low")

    assert len(result.data) == 2
    image_bytes = base64.b64decode(result.data[0].b64_json)  # the guide's first line
    assert Image.open(io.BytesIO(image_bytes)).size == (1024, 1536)
    assert result.data[0].url is None
    assert (result.size, result.quality, result.background, result.output_format) == (
        "1024x1536",
        "low",
        "opaque",
        "png",
    )
    assert result.usage.output_tokens > 0 and result.usage.input_tokens_details.text_tokens > 0
    assert result.usage.total_tokens == result.usage.input_tokens + result.usage.output_tokens
    generation = Generation.objects.get()
    assert (generation.face, generation.credits_used) == ("openai", 2)
    assert balance_get(user=user)["credits"] == 98
    assert billing_audit() == []


def test_it_puts_the_hub_s_facts_in_headers_not_in_the_body(account, client):
    raw = client.images.with_raw_response.generate(model="gpt-image-2", prompt="A kite", quality="low")

    generation = Generation.objects.get()
    assert raw.headers["x-gih-generation-id"] == generation.pk
    assert raw.headers["x-gih-credits-charged"] == "1"
    assert raw.headers["x-gih-credits-balance"] == "99"
    assert set(raw.http_response.json()) == {
        "created",
        "data",
        "background",
        "output_format",
        "quality",
        "size",
        "usage",
    }


def test_it_answers_a_stored_image_url_when_asked(client, live_server):
    result = client.images.generate(model="gpt-image-2", prompt="A kite", quality="low", response_format="url")

    assert result.data[0].b64_json is None
    assert result.data[0].url.startswith(live_server.url)


@pytest.mark.parametrize("size", ["1024x1024", "1536x1024", "auto"])
def test_it_generates_each_size(client, size):
    result = client.images.generate(model="gpt-image-2", prompt="A kite", size=size, quality="low")

    expected = "1024x1024" if size == "auto" else size
    assert result.size == expected
    assert "x".join(map(str, _open(result.data[0].b64_json).size)) == expected


def test_it_returns_a_transparent_webp_when_asked(client, openai_standin):
    result = client.images.generate(
        model="gpt-image-2", prompt="A cat sticker", quality="low", output_format="webp", background="transparent"
    )

    image = _open(result.data[0].b64_json)
    assert (image.format, image.mode) == ("WEBP", "RGBA")
    assert image.getchannel("A").getextrema() == (0, 255)
    assert (result.output_format, result.background) == ("webp", "transparent")
    [sent] = openai_standin.requests
    assert (sent.json["output_format"], sent.json["background"]) == ("webp", "transparent")
    stored = Generation.objects.get().images.get()
    assert (stored.content_type, stored.file.name.rsplit(".", 1)[1]) == ("image/webp", "webp")


def test_it_edits_one_image(client, openai_standin):
    result = client.images.edit(model="gpt-image-2", image=("photo.png", _png(), "image/png"), prompt="Add a hat")

    assert _open(result.data[0].b64_json).size == (1024, 1024)
    [sent] = openai_standin.requests
    assert sent.path == "/v1/images/edits"


def test_it_edits_two_images_with_a_mask(client, openai_standin):
    mask = io.BytesIO()
    Image.new("RGBA", (64, 64)).save(mask, format="PNG")

    result = client.images.edit(
        model="gpt-image-2",
        image=[("a.png", _png("red"), "image/png"), ("b.png", _png("blue"), "image/png")],
        mask=("mask.png", mask.getvalue(), "image/png"),
        prompt="Both in one scene",
        size="1536x1024",
        quality="low",
        input_fidelity="high",
    )

    assert _open(result.data[0].b64_json).size == (1536, 1024)
    assert result.usage.input_tokens_details.image_tokens > 0
    [sent] = openai_standin.requests
    assert [file.name for file in sent.files] == ["image[]", "image[]", "mask"]
    assert sent.fields["input_fidelity"] == "high"


def test_it_streams_partial_images_then_the_completed_image(client, openai_standin, account):
    user, _, _ = account

    stream = client.images.generate(
        model="gpt-image-2", prompt="A lighthouse", quality="low", stream=True, partial_images=2
    )
    events = list(stream)

    assert [event.type for event in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    assert [event.partial_image_index for event in events[:2]] == [0, 1]
    assert _open(events[0].b64_json).size == (1024, 1024)
    final = events[-1]
    assert _open(final.b64_json).size == (1024, 1024)
    assert final.usage.output_tokens == 272 and (final.size, final.quality) == ("1024x1024", "low")
    [sent] = openai_standin.requests
    assert (sent.json["stream"], sent.json["partial_images"]) == (True, 2)  # relayed from OpenAI's own stream
    assert Generation.objects.get().status == "succeeded"
    assert balance_get(user=user)["credits"] == 99


def test_it_streams_an_edit_as_image_edit_events(client):
    stream = client.images.edit(
        model="gpt-image-2", image=("photo.png", _png(), "image/png"), prompt="Night", stream=True, partial_images=1
    )

    assert [event.type for event in stream] == ["image_edit.partial_image", "image_edit.completed"]


def test_it_streams_a_failure_as_an_error_event_and_refunds_it(client, openai_standin, account):
    user, _, _ = account
    openai_standin.set_mode("stream_error")

    stream = client.images.generate(model="gpt-image-2", prompt="A kite", quality="low", stream=True, partial_images=1)
    seen = []
    with pytest.raises(openai.APIError) as caught:
        for event in stream:
            seen.append(event.type)

    assert seen == ["image_generation.partial_image"]
    assert caught.value.body["code"] == "generation_failed"
    generation = Generation.objects.get()
    assert (generation.status, generation.credits_used) == ("failed", 0)
    assert balance_get(user=user)["credits"] == 100
    assert billing_audit() == []


def test_it_works_with_the_async_client_too(account):
    _, raw_key, base_url = account

    async def run():
        client = AsyncOpenAI(base_url=base_url, api_key=raw_key)
        result = await client.images.generate(model="gpt-image-2", prompt="A red bicycle", quality="low")
        stream = await client.images.generate(
            model="gpt-image-2", prompt="A blue bicycle", quality="low", stream=True, partial_images=1
        )
        events = [event async for event in stream]
        await client.close()
        return result, events

    result, events = asyncio.run(run())

    assert _open(result.data[0].b64_json).size == (1024, 1024)
    assert [event.type for event in events] == ["image_generation.partial_image", "image_generation.completed"]


def test_it_lists_and_retrieves_models(client):
    assert [model.id for model in client.models.list()] == ["gpt-image-2"]
    assert client.models.retrieve("gpt-image-2").owned_by == "openai"
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("dall-e-9")
    assert caught.value.body["code"] == "model_not_found"


def test_it_raises_authentication_error_for_a_bad_key(account, openai_standin):
    _, _, base_url = account
    bad = OpenAI(base_url=base_url, api_key="gih_live_" + "x" * 32)

    with pytest.raises(openai.AuthenticationError) as caught:
        bad.images.generate(model="gpt-image-2", prompt="x")

    assert caught.value.body["type"] == "authentication_error"
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert openai_standin.requests == []


def test_it_raises_a_402_without_retrying_when_credits_run_out(live_server, make_user, openai_standin):
    user = make_user("poor@example.com", credits=0)
    client = OpenAI(base_url=f"{live_server.url}/v1", api_key=api_key_create(user=user).raw_key)

    with pytest.raises(openai.APIStatusError) as caught:
        client.images.generate(model="gpt-image-2", prompt="x", quality="high")

    assert caught.value.status_code == 402
    assert caught.value.body["type"] == "insufficient_quota"
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert Generation.objects.count() == 0


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"size": "10x10"}, "size"),
        ({"output_format": "gif"}, "output_format"),
        ({"output_compression": 50}, "output_compression"),  # png has no compression
        ({"background": "transparent", "output_format": "jpeg"}, "background"),
        ({"style": "vivid"}, "style"),  # supported by OpenAI for other models, not here: named, never ignored
    ],
)
def test_it_raises_bad_request_naming_the_parameter(client, fields, param, openai_standin):
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="gpt-image-2", prompt="x", **fields)

    assert caught.value.body["param"] == param
    assert caught.value.body["type"] == "invalid_request_error"
    assert Generation.objects.count() == 0 and openai_standin.requests == []


def test_it_refuses_a_content_policy_violation_as_400_moderation_blocked_and_refunds(client, openai_standin, account):
    user, _, _ = account
    openai_standin.set_mode("moderation_400")

    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="gpt-image-2", prompt="x", quality="low")

    assert caught.value.body["code"] == "moderation_blocked"
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert len(openai_standin.requests) == 1  # the SDK did not retry it
    assert balance_get(user=user)["credits"] == 100


def test_it_charges_once_when_the_sdk_times_out_and_retries(account, openai_standin):
    user, raw_key, base_url = account
    openai_standin.set_mode("ok", delay=3.0)  # the provider takes longer than the client waits
    impatient = OpenAI(base_url=base_url, api_key=raw_key, timeout=2.0, max_retries=2)

    raw = impatient.images.with_raw_response.generate(model="gpt-image-2", prompt="A slow sunrise", quality="low")

    assert raw.retries_taken >= 1  # the first try timed out
    assert _open(raw.parse().data[0].b64_json).size == (1024, 1024)
    assert len(openai_standin.requests) == 1  # one provider call
    generation = Generation.objects.get()  # one generation, joined by the retry
    assert generation.credits_used == 1
    assert balance_get(user=user)["credits"] == 99  # one charge
    assert billing_audit() == []
