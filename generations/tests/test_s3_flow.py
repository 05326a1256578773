"""With S3 storage (moto's server over real HTTP), a sync generation's images live in the bucket."""

import pytest
import requests

from billing.selectors import billing_audit
from generations.models import GeneratedImage
from generations.tests.factories import GENERATIONS_URL, decoded

pytestmark = pytest.mark.django_db


def test_it_stores_images_in_the_bucket_and_answers_with_urls_that_serve_them(api, user, s3_storage):
    response = api.post(
        GENERATIONS_URL,
        {"model": "gpt-image-2", "prompt": "A lighthouse at dusk", "size": "1536x1024", "quality": "low", "n": 2},
        format="json",
    )

    assert response.status_code == 200, response.content
    payload = response.json()
    stored = {item["Key"] for item in s3_storage.client.list_objects_v2(Bucket=s3_storage.bucket)["Contents"]}
    assert stored == {image.file.name for image in GeneratedImage.objects.all()}
    assert all(key.startswith(f"generations/{payload['id']}/") for key in stored)
    for image in payload["images"]:
        assert image["url"].startswith(f"{s3_storage.endpoint_url}/{s3_storage.bucket}/generations/")
        served = requests.get(image["url"], timeout=30)
        assert served.status_code == 200
        png = decoded(served.content)
        assert (png.format, png.size) == ("PNG", (1536, 1024))
    assert billing_audit() == []


def test_it_answers_b64_json_from_the_bytes_it_just_stored_without_downloading_them(api, user, s3_storage):
    """The /v1 face returns the image itself: it comes from memory, not from a GET of what was just uploaded."""
    import base64

    from django.core.files.storage import default_storage

    calls = []
    client = default_storage.connection.meta.client
    client.meta.events.register("before-send.s3.*", lambda request, **_: calls.append(request.method))
    try:
        response = api.post(
            "/v1/images/generations",
            {"model": "gpt-image-2", "prompt": "A lighthouse at dusk", "size": "1024x1024", "quality": "low", "n": 2},
            format="json",
        )
    finally:
        client.meta.events.unregister("before-send.s3.*")

    assert response.status_code == 200, response.content
    assert calls == ["PUT", "PUT"]  # two uploads, no download
    stored = [
        s3_storage.client.get_object(Bucket=s3_storage.bucket, Key=image.file.name)["Body"].read()
        for image in GeneratedImage.objects.order_by("created_at", "id")
    ]
    answered = [base64.b64decode(entry["b64_json"]) for entry in response.json()["data"]]
    assert sorted(answered) == sorted(stored)
