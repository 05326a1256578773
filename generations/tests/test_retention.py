"""Image retention and DELETE /api/v1/generations/:id, on S3 (moto's server over real HTTP)."""

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from billing.models import LedgerEntry
from billing.selectors import billing_audit
from billing.tests.factories import make_generation
from generations.files import reference_images_store
from generations.models import GeneratedImage, Generation, ReferenceImage
from generations.providers import ReferenceImageData
from generations.tasks import expire_images
from generations.tests.factories import GENERATIONS_URL, api_client_for, image_bytes

pytestmark = pytest.mark.django_db

BODY = {"model": "gpt-image-2", "prompt": "A lighthouse at dusk", "size": "1024x1024", "quality": "low"}


def _generate(api, **fields) -> dict:
    response = api.post(GENERATIONS_URL, {**BODY, **fields}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _generate_with_reference(api) -> dict:
    """A finished generation that also kept a reference image in storage (as async ones do, for the worker)."""
    payload = _generate(api)
    reference = ReferenceImageData(content=image_bytes(), content_type="image/png", filename="ref.png")
    reference_images_store(generation=Generation.objects.get(pk=payload["id"]), references=[reference])
    return payload


def _age(generation_id: str, days: float) -> None:
    """Make a generation and its images as old as `days` (created_at is the clock retention reads)."""
    then = timezone.now() - timedelta(days=days)
    Generation.objects.filter(pk=generation_id).update(created_at=then)
    GeneratedImage.objects.filter(generation_id=generation_id).update(created_at=then)


def _bucket_keys(s3_storage) -> set[str]:
    listing = s3_storage.client.list_objects_v2(Bucket=s3_storage.bucket)
    return {item["Key"] for item in listing.get("Contents", [])}


def _keys_of(generation_id: str) -> set[str]:
    outputs = GeneratedImage.objects.filter(generation_id=generation_id).values_list("file", flat=True)
    references = ReferenceImage.objects.filter(generation_id=generation_id).values_list("file", flat=True)
    return {*outputs, *references}


def test_it_deletes_exactly_the_images_past_retention_from_the_bucket(api, user, s3_storage, settings):
    settings.IMAGE_RETENTION_DAYS = 30
    old = _generate_with_reference(api)
    old_plain = _generate(api, n=2)
    recent = _generate_with_reference(api)
    _age(old["id"], 31)
    _age(old_plain["id"], 30.01)
    _age(recent["id"], 29.9)
    expired_keys = _keys_of(old["id"]) | _keys_of(old_plain["id"])
    kept_keys = _keys_of(recent["id"])
    assert len(expired_keys) == 4 and len(kept_keys) == 2  # outputs and the edit's reference image
    assert _bucket_keys(s3_storage) == expired_keys | kept_keys

    assert expire_images() == {"outputs": 3, "references": 1, "failed": 0}

    assert _bucket_keys(s3_storage) == kept_keys
    for generation_id in (old["id"], old_plain["id"]):
        assert not GeneratedImage.objects.filter(generation_id=generation_id, expired_at__isnull=True).exists()
        assert not ReferenceImage.objects.filter(generation_id=generation_id, expired_at__isnull=True).exists()
    assert not GeneratedImage.objects.filter(generation_id=recent["id"], expired_at__isnull=False).exists()
    assert expire_images() == {"outputs": 0, "references": 0, "failed": 0}  # nothing twice

    shown = api.get(f"/api/v1/generations/{old_plain['id']}").json()
    assert shown["status"] == "succeeded" and len(shown["images"]) == 2
    for image in shown["images"]:
        assert (image["expired"], image["url"], image["url_expires_at"]) == (True, None, None)
        assert image["width"] == 1024 and image["id"].startswith("img_")
    assert [entry["url"] for entry in shown["data"]] == [None, None]
    assert all(entry["expired"] for entry in shown["data"])
    assert shown["usage"]["credits"] == old_plain["usage"]["credits"]

    fresh = api.get(f"/api/v1/generations/{recent['id']}").json()["images"][0]
    assert fresh["expired"] is False and requests.get(fresh["url"], timeout=30).status_code == 200
    assert billing_audit() == []


def test_it_keeps_every_image_when_retention_is_zero(api, user, s3_storage, settings):
    settings.IMAGE_RETENTION_DAYS = 0
    payload = _generate(api)
    _age(payload["id"], 3650)

    assert expire_images() == {"outputs": 0, "references": 0, "failed": 0}
    assert _bucket_keys(s3_storage) == _keys_of(payload["id"])


def test_it_keeps_the_reference_images_of_an_unfinished_generation(api, user, s3_storage, settings):
    """The worker still needs them, however old the generation looks."""
    settings.IMAGE_RETENTION_DAYS = 30
    payload = _generate_with_reference(api)
    _age(payload["id"], 40)
    Generation.objects.filter(pk=payload["id"]).update(status=Generation.Status.RUNNING)

    assert expire_images() == {"outputs": 1, "references": 0, "failed": 0}
    assert _bucket_keys(s3_storage) == set(
        ReferenceImage.objects.filter(generation_id=payload["id"]).values_list("file", flat=True)
    )


def test_it_shows_when_signed_urls_expire(api, user, s3_storage, settings):
    settings.AWS_QUERYSTRING_EXPIRE = 3600
    image = _generate(api)["images"][0]

    assert "X-Amz-Expires=3600" in image["url"] or "Expires=" in image["url"]
    expires = timezone.datetime.fromisoformat(image["url_expires_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=59) < expires - timezone.now() <= timedelta(hours=1)


def test_it_shows_no_url_expiry_without_signed_urls(api, user, s3_storage, settings):
    settings.AWS_QUERYSTRING_AUTH = False
    settings.STORAGES = {**settings.STORAGES}  # rebuild default_storage with the new setting
    image = _generate(api)["images"][0]

    assert image["url_expires_at"] is None and "X-Amz-Signature" not in image["url"]


def test_it_deletes_a_generations_images_on_delete_and_the_url_then_404s(api, user, s3_storage):
    payload = _generate_with_reference(api)
    url = payload["images"][0]["url"]
    assert requests.get(url, timeout=30).status_code == 200
    ledger_before = list(LedgerEntry.objects.order_by("pk").values_list("pk", "amount"))

    response = api.delete(f"/api/v1/generations/{payload['id']}")

    assert response.status_code == 200, response.content
    deleted = response.json()
    assert deleted["id"] == payload["id"] and deleted["status"] == "succeeded"
    assert deleted["images"][0]["expired"] is True and deleted["images"][0]["url"] is None
    assert requests.get(url, timeout=30).status_code == 404
    assert _bucket_keys(s3_storage) == set()

    shown = api.get(f"/api/v1/generations/{payload['id']}")
    assert shown.status_code == 200
    assert shown.json()["images"][0]["expired"] is True
    assert shown.json()["usage"] == payload["usage"]
    assert list(LedgerEntry.objects.order_by("pk").values_list("pk", "amount")) == ledger_before
    assert billing_audit() == []

    again = api.delete(f"/api/v1/generations/{payload['id']}")
    assert again.status_code == 200 and again.json()["images"][0]["expired"] is True


def test_it_answers_404_for_another_users_generation_and_deletes_nothing(api, user, other_user, s3_storage):
    payload = _generate(api)
    keys = _bucket_keys(s3_storage)

    response = api_client_for(other_user).delete(f"/api/v1/generations/{payload['id']}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "notFound"
    assert _bucket_keys(s3_storage) == keys
    assert api.delete("/api/v1/generations/gen_unknown").json()["error"]["code"] == "notFound"


def test_it_refuses_to_delete_the_images_of_a_running_generation(api, user):
    generation = make_generation(user)
    Generation.objects.filter(pk=generation.pk).update(status=Generation.Status.RUNNING)

    response = api.delete(f"/api/v1/generations/{generation.pk}")

    assert response.status_code == 409
    assert response.json() == {
        "error": {
            "code": "generation_in_progress",
            "message": "The generation is still running: its images can be deleted once it has finished.",
        }
    }


def test_it_replays_a_v1_generation_after_delete_without_its_images(api, user, s3_storage):
    body = {**BODY, "response_format": "url"}
    headers = {"HTTP_IDEMPOTENCY_KEY": "retention-replay"}
    first = api.post("/v1/images/generations", body, format="json", **headers)
    assert first.status_code == 200, first.content
    generation_id = first["x-gih-generation-id"]
    assert api.delete(f"/api/v1/generations/{generation_id}").status_code == 200

    replay = api.post("/v1/images/generations", body, format="json", **headers)

    assert replay.status_code == 200, replay.content
    assert replay.json()["data"] == [{"url": None, "expired": True}]


def test_the_docs_state_the_retention_policy(client, settings):
    settings.IMAGE_RETENTION_DAYS = 30
    html = client.get("/docs/").content.decode()
    assert "kept for 30 days after the generation" in html and 'id="retention"' in html
    assert "DELETE</span>/api/v1/generations/:id" in html

    settings.IMAGE_RETENTION_DAYS = 0
    assert "kept until you delete them" in client.get("/docs/").content.decode()

    chinese = client.get("/docs/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "图片保留" in chinese


def test_retention_runs_hourly_in_beat(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["expire-images"]
    assert entry["task"] == expire_images.name == "generations.tasks.expire_images"
    assert entry["schedule"] == float(settings.IMAGE_RETENTION_SWEEP_SECONDS) == 3600.0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("generation_files_cleanup")
def test_a_streamed_replay_after_delete_completes_without_the_images_bytes(live_server, make_user):
    from accounts.services import api_key_create
    from gih.sse import iter_events

    user = make_user("stream-retention@example.com", credits=20)
    headers = {"Authorization": f"Bearer {api_key_create(user=user).raw_key}", "Idempotency-Key": "stream-replay"}
    body = {**BODY, "stream": True}

    def stream() -> list[tuple[str, dict]]:
        response = requests.post(
            f"{live_server.url}/api/v1/images/generations", json=body, headers=headers, stream=True, timeout=60
        )
        assert response.status_code == 200
        return [(event.event, event.json()) for event in iter_events(response.iter_content(chunk_size=None))]

    first = stream()
    assert first[-1][0] == "image_generation.completed" and first[-1][1]["b64_json"]
    generation_id = first[-1][1]["generation_id"]
    deleted = requests.delete(f"{live_server.url}/api/v1/generations/{generation_id}", headers=headers, timeout=60)
    assert deleted.status_code == 200, deleted.content

    name, completed = stream()[-1]

    assert name == "image_generation.completed"
    assert completed["generation_id"] == generation_id
    assert (completed["b64_json"], completed["url"], completed["expired"]) == (None, None, True)
