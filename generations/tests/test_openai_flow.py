"""The sync flow through the real OpenAI adapter, over real HTTP, against the local OpenAI stand-in.

Each failure the provider can produce ends the same way: the generation is failed with a
stored error code and the raw upstream message, the client gets a 500 generationFailed
envelope without that message, and every credit comes back.
"""

import re

import pytest

from billing.models import LedgerEntry
from billing.selectors import balance_get, billing_audit
from generations.models import GeneratedImage, Generation
from generations.tests.factories import GENERATIONS_URL, decoded, image_bytes, upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_cleanup")]

PROMPT = "A cinematic product photo of a transparent perfume bottle on black marble"


def post(api, **fields):
    return api.post(GENERATIONS_URL, {"model": "gpt-image-2", "prompt": PROMPT, **fields}, format="json")


def test_it_generates_through_the_openai_adapter(api, user, openai_standin):
    response = post(api, size="1024x1024", quality="high", n=2)

    assert response.status_code == 200, response.content
    payload = response.json()
    assert payload["status"] == "succeeded"
    assert payload["usage"]["credits"] == 16
    assert payload["balance"]["credits"] == 84
    assert len(payload["images"]) == 2
    served = api.get(payload["images"][0]["url"])
    assert decoded(b"".join(served.streaming_content)).size == (1024, 1024)
    # What went over the wire: one call, the model's provider id, size and quality as priced.
    [sent] = openai_standin.requests
    assert (sent.method, sent.path) == ("POST", "/v1/images/generations")
    assert sent.headers["authorization"] == f"Bearer {openai_standin.api_key}"
    assert {key: sent.json[key] for key in ("model", "prompt", "n", "size", "quality")} == {
        "model": "gpt-image-2",
        "prompt": PROMPT,
        "n": 2,
        "size": "1024x1024",
        "quality": "high",
    }
    # The end-user reference is opaque: neither the email nor the database id.
    assert re.fullmatch(r"[0-9a-f]{32}", sent.json["user"])
    assert billing_audit() == []


def test_it_sends_a_tier_request_as_a_size_and_auto_quality(api, user, openai_standin):
    response = post(api, aspect_ratio="16:9", quality="2K")

    assert response.status_code == 200, response.content
    [sent] = openai_standin.requests
    assert (sent.json["size"], sent.json["quality"]) == ("2720x1536", "auto")
    assert GeneratedImage.objects.get().width == 2720
    assert balance_get(user=user)["credits"] == 97


def test_it_sends_reference_images_to_the_edits_endpoint(api, user, openai_standin):
    response = api.post(
        GENERATIONS_URL,
        {
            "model": "gpt-image-2",
            "prompt": PROMPT,
            "size": "1536x1024",
            "quality": "low",
            "reference_image": [upload("a.jpg", image_bytes()), upload("b.png", image_bytes("WEBP"))],
        },
        format="multipart",
    )

    assert response.status_code == 200, response.content
    [sent] = openai_standin.requests
    assert (sent.method, sent.path) == ("POST", "/v1/images/edits")
    assert [(file.name, file.content_type) for file in sent.files] == [
        ("image[]", "image/png"),  # named by what the bytes are, not by the upload's name
        ("image[]", "image/webp"),
    ]
    assert (sent.fields["size"], sent.fields["quality"], sent.fields["n"]) == ("1536x1024", "low", "1")
    assert billing_audit() == []


def test_it_refunds_the_images_the_provider_did_not_deliver(api, user, openai_standin):
    openai_standin.set_mode("fewer", count=1)

    response = post(api, n=3)  # 1K: 1 credit per image

    assert response.status_code == 200, response.content
    payload = response.json()
    assert payload["status"] == "succeeded"
    assert len(payload["images"]) == 1
    assert payload["usage"] == {"credits": 1, "credits_requested": 3, "credits_refunded": 2}
    assert payload["balance"]["credits"] == 99
    generation = Generation.objects.get()
    [refund] = LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.REFUND)
    assert refund.amount == 2
    assert balance_get(user=user)["credits"] == 99
    assert billing_audit() == []


def test_it_pays_for_every_delivered_image_at_the_size_price(api, user, openai_standin):
    openai_standin.set_mode("fewer", count=2)

    response = post(api, size="1024x1024", quality="high", n=4)

    assert response.status_code == 200, response.content
    assert response.json()["usage"] == {"credits": 16, "credits_requested": 32, "credits_refunded": 16}
    assert balance_get(user=user)["credits"] == 84
    assert billing_audit() == []


@pytest.mark.parametrize(
    ("mode", "error_code", "upstream_text"),
    [
        ("http_500", "provider_unavailable", "The server had an error while processing your request."),
        ("moderation_400", "moderation_blocked", "Your request was rejected as a result of our safety system."),
        ("not_image", "invalid_output", "none usable"),
        ("bad_base64", "invalid_output", "invalid base64"),
        ("bad_json", "invalid_output", "malformed body"),
    ],
)
def test_it_fails_refunds_and_keeps_the_upstream_message_to_itself(
    api, user, openai_standin, mode, error_code, upstream_text
):
    openai_standin.set_mode(mode)

    response = post(api, size="1024x1024", quality="medium", n=2)

    assert_failed_and_refunded(api, user, response, error_code=error_code, upstream_text=upstream_text, charged=6)
    assert len(openai_standin.requests) == 1  # a call that may have been billed upstream is not retried


def test_it_fails_and_refunds_when_the_provider_takes_too_long(api, user, openai_standin, settings):
    settings.GENERATION_TIMEOUT_SECONDS = 1
    openai_standin.set_mode("ok", delay=3)

    response = post(api, n=1)

    assert_failed_and_refunded(
        api, user, response, error_code="provider_timeout", upstream_text="Read timed out", charged=1
    )


def assert_failed_and_refunded(api, user, response, *, error_code: str, upstream_text: str, charged: int) -> None:
    assert response.status_code == 500, response.content
    error = response.json()["error"]
    assert error["code"] == "generationFailed"
    generation = Generation.objects.get()
    assert generation.pk in error["message"]
    assert upstream_text not in response.content.decode()
    # Staff see the raw reason; the client sees it nowhere, not even on the generation endpoint.
    assert generation.status == Generation.Status.FAILED
    assert generation.error_code == error_code
    assert upstream_text in generation.error_message
    detail = api.get(f"/api/v1/generations/{generation.pk}")
    assert detail.json()["status"] == "failed"
    assert detail.json()["error"]["code"] == "generationFailed"
    assert upstream_text not in detail.content.decode()
    # Every credit back, through one refund row per batch charged.
    assert (generation.credits_charged, generation.credits_refunded) == (charged, charged)
    refunds = LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.REFUND)
    assert sum(entry.amount for entry in refunds) == charged
    assert balance_get(user=user)["credits"] == 100
    assert not GeneratedImage.objects.exists()
    assert billing_audit() == []
