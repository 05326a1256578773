"""The synchronous generation flow through the API with the local renderer: charge, render, store, answer."""

import re
from datetime import timedelta
from itertools import pairwise

import pytest
from django.utils import timezone

from billing.models import LedgerEntry
from billing.selectors import balance_get, balance_summary, billing_audit
from billing.services import credits_grant
from generations.models import GeneratedImage, Generation
from generations.tests.factories import (
    EDITS_URL,
    GENERATIONS_URL,
    api_client_for,
    decoded,
    image_bytes,
    shows_reference_inset,
    upload,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_cleanup")]

BODY = {"model": "gpt-image-2", "prompt": "A cinematic product photo with premium studio lighting"}
ISO_MILLIS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def generate(client, url: str = GENERATIONS_URL, **fields) -> dict:
    response = client.post(url, {**BODY, **fields}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def fetch(client, url: str) -> bytes:
    """GET an image URL through the Django test client (local media is served by the app)."""
    response = client.get(url)
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def test_it_answers_a_sync_generation_with_the_documented_object(api, user):
    payload = generate(api, aspect_ratio="1:1", quality="1K", n=2)

    # The documented fields (both docs versions' example response) ...
    assert payload["object"] == "image_generation"
    assert payload["status"] == "succeeded"
    assert payload["model"] == "gpt-image-2"
    assert payload["aspect_ratio"] == "1:1"
    assert payload["quality"] == "1K"
    assert payload["usage"]["credits"] == 2
    assert payload["balance"] == {"credits": 98, "account_type": "PRO", "next_expiration": None}
    assert len(payload["images"]) == 2
    for image in payload["images"]:
        assert {"id", "object", "url", "created_at"} <= set(image)
        assert image["object"] == "image"
        assert re.fullmatch(r"img_[a-z0-9]{24}", image["id"])
        assert image["url"].startswith("http://testserver/media/generations/")
        assert ISO_MILLIS_Z.match(image["created_at"])
    assert len({image["url"] for image in payload["images"]}) == 2
    # ... and the extras: the size sent to the provider, OpenAI's `created` and `data`.
    assert payload["size"] == "1024x1024"
    assert isinstance(payload["created"], int)
    assert payload["data"] == [{"url": image["url"], "revised_prompt": None} for image in payload["images"]]
    assert payload["usage"] == {"credits": 2, "credits_requested": 2, "credits_refunded": 0}
    assert "error" not in payload
    assert "poll_url" not in payload


def test_its_timestamps_run_in_order_and_match_the_stored_row(api, user):
    payload = generate(api, aspect_ratio="1:1", quality="1K")

    stamps = [payload["created_at"], payload["started_at"], payload["finished_at"]]
    assert all(ISO_MILLIS_Z.match(stamp) for stamp in stamps)
    assert stamps == sorted(stamps)  # a sync generation starts as it is created, never before
    generation = Generation.objects.get(pk=payload["id"])
    assert generation.created_at <= generation.started_at <= generation.finished_at


def test_it_serves_each_image_as_a_png_of_the_requested_size(api, user):
    payload = generate(api, size="1536x1024", quality="low", n=2)

    for image in payload["images"]:
        png = fetch(api, image["url"])
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert decoded(png).size == (1536, 1024)
        assert (image["width"], image["height"], image["content_type"]) == (1536, 1024, "image/png")


def test_its_balance_is_the_one_left_after_the_charge(make_user):
    """The answer's balance (read by the success statement on Postgres) is what a balance query reads after it."""
    owner = make_user("balance@example.com", account_type="PRO")
    sooner = timezone.now() + timedelta(days=1)
    credits_grant(user=owner, amount=5, expires_at=sooner)
    credits_grant(user=owner, amount=4, expires_at=sooner + timedelta(days=1))
    credits_grant(user=owner, amount=10)

    payload = generate(api_client_for(owner), n=2)

    assert payload["balance"] == balance_summary(balance_get(user=owner))
    assert payload["balance"]["credits"] == 17
    assert payload["balance"]["next_expiration"]["credits"] == 3


def test_it_serves_images_without_an_api_key(api, anon_api, user):
    """Image keys are unguessable, so the URL itself grants access, as with S3 URLs."""
    payload = generate(api)

    assert decoded(fetch(anon_api, payload["images"][0]["url"])).format == "PNG"


def test_it_writes_one_charge_row_per_batch_it_takes_from(make_user):
    owner = make_user("batches@example.com")
    soon = credits_grant(user=owner, amount=2, expires_at=timezone.now() + timedelta(days=1))
    later = credits_grant(user=owner, amount=10)

    payload = generate(api_client_for(owner), n=3)

    generation = Generation.objects.get(pk=payload["id"])
    charges = LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.CHARGE)
    # Soonest-expiring batch first, one row per batch, no refund on full success.
    assert sorted((entry.batch_id, entry.amount) for entry in charges) == sorted([(soon.pk, -2), (later.pk, -1)])
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFUND).exists()
    assert (generation.credits_charged, generation.credits_refunded) == (3, 0)
    assert payload["balance"]["credits"] == 9
    assert payload["balance"]["next_expiration"] is None  # the expiring batch is spent
    assert billing_audit() == []


def test_it_returns_the_same_object_from_the_generation_endpoint_to_its_owner(api, user):
    created = generate(api, size="1024x1024", quality="medium", n=2)

    response = api.get(f"/api/v1/generations/{created['id']}")

    assert response.status_code == 200
    created.pop("balance")
    assert response.json() == created


def test_it_hides_another_users_generation_as_not_found(api, user, other_user):
    created = generate(api)
    intruder = api_client_for(other_user)
    unknown_id = "gen_" + "0" * 24

    theirs = intruder.get(f"/api/v1/generations/{created['id']}")
    unknown = intruder.get(f"/api/v1/generations/{unknown_id}")

    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["error"]["code"] == unknown.json()["error"]["code"] == "notFound"
    # Another user's id answers exactly like an id that does not exist.
    hidden = theirs.json()["error"]["message"].replace(created["id"], "<id>")
    assert hidden == unknown.json()["error"]["message"].replace(unknown_id, "<id>")


@pytest.mark.parametrize("generation_id", ["gen_doesnotexist", "1", "..%2F..%2Fetc", "gen_" + "a" * 200])
def test_it_answers_unknown_generation_ids_with_not_found(api, user, generation_id):
    response = api.get(f"/api/v1/generations/{generation_id}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "notFound"


def test_it_gives_generations_opaque_random_ids(api, user):
    ids = [generate(api)["id"] for _ in range(3)]

    for generation_id in ids:
        assert re.fullmatch(r"gen_[a-z0-9]{24}", generation_id)
    assert len(set(ids)) == 3
    # Not a counter: no two ids share a long common prefix after `gen_`.
    suffixes = sorted(generation_id[4:] for generation_id in ids)
    assert all(a[:6] != b[:6] for a, b in pairwise(suffixes))


def test_it_passes_multipart_reference_images_to_the_renderer(api, user):
    response = api.post(
        GENERATIONS_URL,
        {
            **BODY,
            "size": "1024x1024",
            "quality": "low",
            "n": "2",
            "reference_image": [upload("a.png", image_bytes()), upload("b.webp", image_bytes("WEBP"), "image/webp")],
        },
        format="multipart",
    )

    assert response.status_code == 200, response.content
    payload = response.json()
    assert payload["usage"]["credits"] == 2
    for image in payload["images"]:
        assert shows_reference_inset(fetch(api, image["url"]))


def test_it_renders_differently_without_a_reference_image(api, user):
    """The inset check above is meaningful: without references, no inset of that colour appears."""
    payload = generate(api, size="1024x1024", quality="low")

    assert not shows_reference_inset(fetch(api, payload["images"][0]["url"]))


def test_it_accepts_openai_edits_with_image_array_parts(api, user):
    response = api.post(
        EDITS_URL,
        {
            "model": "gpt-image-2",
            "prompt": "Combine both into a product shot",
            "size": "1536x1024",
            "quality": "low",
            "image[]": [upload("first.png", image_bytes()), upload("second.jpg", image_bytes("JPEG"), "image/jpeg")],
        },
        format="multipart",
    )

    assert response.status_code == 200, response.content
    payload = response.json()
    assert payload["status"] == "succeeded"
    assert payload["size"] == "1536x1024"
    png = fetch(api, payload["data"][0]["url"])
    assert decoded(png).size == (1536, 1024)
    assert shows_reference_inset(png)
    assert balance_get(user=user)["credits"] == 99


# --- Idempotency-Key -------------------------------------------------------------------


def post_with_key(client, key: str, **fields):
    return client.post(GENERATIONS_URL, {**BODY, **fields}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_it_replays_the_same_generation_for_the_same_key_and_body(api, user):
    first = post_with_key(api, "order-42", n=2)
    second = post_with_key(api, "order-42", n=2)

    assert first.status_code == second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["images"] == first.json()["images"]
    # Charged once, rendered once.
    assert Generation.objects.count() == 1
    assert GeneratedImage.objects.count() == 2
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE).count() == 1
    assert balance_get(user=user)["credits"] == 98
    assert second.json()["balance"]["credits"] == 98


def test_it_refuses_a_reused_key_with_a_different_body(api, user):
    first = post_with_key(api, "order-42", n=1)

    second = post_with_key(api, "order-42", n=2)

    assert first.status_code == 200
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "idempotency_key_reused"
    assert Generation.objects.count() == 1
    assert balance_get(user=user)["credits"] == 99


def test_it_tells_reference_images_apart_under_one_key(api, user):
    def post_reference(colour):
        reference = upload("ref.png", image_bytes(colour=colour))
        return api.post(
            GENERATIONS_URL, {**BODY, "reference_image": [reference]}, format="multipart", HTTP_IDEMPOTENCY_KEY="edit-1"
        )

    first, same, different = post_reference((255, 0, 255)), post_reference((255, 0, 255)), post_reference((0, 0, 0))

    assert first.status_code == same.status_code == 200
    assert same.json()["id"] == first.json()["id"]
    assert different.status_code == 409
    assert balance_get(user=user)["credits"] == 99


def test_it_scopes_idempotency_keys_to_each_user(api, user, other_user):
    mine = post_with_key(api, "order-42")
    theirs = post_with_key(api_client_for(other_user), "order-42")

    assert mine.status_code == theirs.status_code == 200
    assert mine.json()["id"] != theirs.json()["id"]
    assert balance_get(user=user)["credits"] == 99
    assert balance_get(user=other_user)["credits"] == 99
    assert Generation.objects.filter(idempotency_key="order-42").count() == 2


def test_it_does_not_replay_requests_without_a_key(api, user):
    first = generate(api)
    second = generate(api)

    assert first["id"] != second["id"]
    assert balance_get(user=user)["credits"] == 98


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_it_rejects_an_idempotency_key_of_bad_length(api, user, key):
    response = post_with_key(api, key)

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Idempotency-Key:")
    assert not Generation.objects.exists()
