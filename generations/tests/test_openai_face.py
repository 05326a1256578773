"""Both faces over one service: the OpenAI face's parsing and errors, the new options on /api/v1, SDK-retry joins."""

import base64
import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from billing.selectors import balance_get, billing_audit
from generations.models import Generation
from generations.tests.factories import EDITS_URL, GENERATIONS_URL, image_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_cleanup")]

V1_GENERATIONS = "/v1/images/generations"
V1_EDITS = "/v1/images/edits"
BODY = {"model": "gpt-image-2", "prompt": "A paper boat on a pond", "quality": "low"}


@pytest.fixture(autouse=True)
def no_delay(settings):
    settings.LOCAL_PROVIDER_DELAY_SECONDS = 0


def _file(content: bytes, name: str = "image.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="image/png")


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]


# --- Parsing on the OpenAI face ------------------------------------------------


@pytest.mark.parametrize("name", ["aspect_ratio", "async", "seed", "style"])
def test_it_refuses_a_parameter_openai_does_not_have_or_the_hub_does_not_support(api, name):
    error = _error(api.post(V1_GENERATIONS, {**BODY, name: "x"}, format="json"), 400)

    assert (error["param"], error["type"]) == (name, "invalid_request_error")
    assert Generation.objects.count() == 0


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 5}, "n"),
        ({"output_compression": 101, "output_format": "webp"}, "output_compression"),
        ({"moderation": "none"}, "moderation"),
        ({"partial_images": 4, "stream": True}, "partial_images"),
        ({"response_format": "png"}, "response_format"),
        ({"quality": "ultra"}, "quality"),
        ({"model": "dall-e-2"}, "model"),
    ],
)
def test_it_names_the_field_of_an_invalid_value(api, fields, param):
    error = _error(api.post(V1_GENERATIONS, {**BODY, **fields}, format="json"), 400)

    assert error["param"] == param
    assert error["message"].startswith(f"{param}:")


def test_it_answers_openai_s_405_for_a_wrong_method(api):
    response = api.get(V1_GENERATIONS)

    error = _error(response, 405)
    assert error["type"] == "invalid_request_error"
    assert response["x-should-retry"] == "false"


def test_it_requires_an_image_for_an_edit(api):
    error = _error(api.post(V1_EDITS, {**BODY}, format="multipart"), 400)

    assert error["param"] == "image"


def test_it_records_which_face_a_generation_came_through(api):
    api.post(V1_GENERATIONS, BODY, format="json")
    api.post(GENERATIONS_URL, BODY, format="json")

    assert sorted(Generation.objects.values_list("face", flat=True)) == ["api", "openai"]


# --- The new options on /api/v1 -----------------------------------------------------


def test_it_adds_b64_json_to_each_image_on_request(api):
    response = api.post(GENERATIONS_URL, {**BODY, "n": 2, "response_format": "b64_json"}, format="json")

    assert response.status_code == 200, response.content
    payload = response.json()
    for image, entry in zip(payload["images"], payload["data"], strict=True):
        served = b"".join(api.get(image["url"]).streaming_content)
        assert base64.b64decode(image["b64_json"]) == served
        assert entry["b64_json"] == image["b64_json"] and entry["url"] == image["url"]


def test_it_keeps_urls_only_by_default(api):
    payload = api.post(GENERATIONS_URL, BODY, format="json").json()

    assert "b64_json" not in payload["images"][0] and "b64_json" not in payload["data"][0]


@pytest.mark.parametrize(
    ("output_format", "content_type", "extension"), [("jpeg", "image/jpeg", "jpg"), ("webp", "image/webp", "webp")]
)
def test_it_stores_the_asked_output_format_with_its_type_and_extension(api, output_format, content_type, extension):
    response = api.post(
        GENERATIONS_URL, {**BODY, "output_format": output_format, "output_compression": 40}, format="json"
    )

    image = response.json()["images"][0]
    assert image["content_type"] == content_type
    assert image["url"].endswith(f".{extension}")
    assert Generation.objects.get().options == {"output_format": output_format, "output_compression": 40}


def test_it_refuses_a_transparent_jpeg(api):
    response = api.post(GENERATIONS_URL, {**BODY, "background": "transparent", "output_format": "jpeg"}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "invalid_request", "message": "background: transparent needs output_format png or webp."}
    }


def test_it_refuses_an_unsupported_openai_parameter_on_api_v1_too(api):
    response = api.post(GENERATIONS_URL, {**BODY, "style": "vivid"}, format="json")

    assert response.json()["error"]["message"] == "style: this OpenAI parameter is not supported."


def test_it_takes_a_mask_the_size_of_the_first_image(api, settings):
    mask = io.BytesIO()
    Image.new("RGBA", (64, 64)).save(mask, format="PNG")

    response = api.post(
        EDITS_URL, {**BODY, "image": _file(image_bytes()), "mask": _file(mask.getvalue(), "m.png")}, format="multipart"
    )

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        (image_bytes(size=(32, 32)), "mask: must be the size of the first image (64x64), not 32x32."),
        (image_bytes("JPEG"), "mask: must be a PNG file."),
    ],
)
def test_it_refuses_a_mask_of_the_wrong_size_or_format(api, mask, message):
    response = api.post(EDITS_URL, {**BODY, "image": _file(image_bytes()), "mask": _file(mask)}, format="multipart")

    assert response.json()["error"]["message"] == message


def test_it_refuses_a_mask_or_input_fidelity_without_an_image(api):
    mask = api.post(GENERATIONS_URL, {**BODY, "mask": _file(image_bytes())}, format="multipart")
    fidelity = api.post(GENERATIONS_URL, {**BODY, "input_fidelity": "high"}, format="json")

    assert mask.json()["error"]["message"] == "mask: a mask needs an image to edit."
    assert fidelity.json()["error"]["message"] == "input_fidelity: only for edits (send an image)."


# --- Charging once: Idempotency-Key and SDK retries ------------------------------------


def test_it_replays_an_idempotency_key_on_the_openai_face(api, user):
    first = api.post(V1_GENERATIONS, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = api.post(V1_GENERATIONS, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.json()["data"] == second.json()["data"]
    assert first["x-gih-generation-id"] == second["x-gih-generation-id"]
    assert Generation.objects.count() == 1
    assert balance_get(user=user)["credits"] == 99


def test_it_joins_an_sdk_retry_to_the_generation_it_repeats(api, user):
    first = api.post(V1_GENERATIONS, BODY, format="json")
    retry = api.post(V1_GENERATIONS, BODY, format="json", HTTP_X_STAINLESS_RETRY_COUNT="1")

    assert retry["x-gih-generation-id"] == first["x-gih-generation-id"]
    assert retry.json()["data"] == first.json()["data"]
    assert Generation.objects.count() == 1
    assert balance_get(user=user)["credits"] == 99


@pytest.mark.parametrize("url", [V1_GENERATIONS, GENERATIONS_URL])
def test_it_charges_again_for_a_first_try_with_the_same_body(api, user, url):
    api.post(url, BODY, format="json")
    api.post(url, BODY, format="json", HTTP_X_STAINLESS_RETRY_COUNT="0")

    assert Generation.objects.count() == 2


def test_it_does_not_join_a_retry_with_another_body(api):
    api.post(V1_GENERATIONS, BODY, format="json")
    api.post(V1_GENERATIONS, {**BODY, "prompt": "Another"}, format="json", HTTP_X_STAINLESS_RETRY_COUNT="1")

    assert Generation.objects.count() == 2


def test_it_does_not_join_a_retry_older_than_fifteen_minutes(api):
    api.post(V1_GENERATIONS, BODY, format="json")
    Generation.objects.update(created_at=Generation.objects.get().created_at - timedelta(minutes=16))

    api.post(V1_GENERATIONS, BODY, format="json", HTTP_X_STAINLESS_RETRY_COUNT="2")

    assert Generation.objects.count() == 2


def test_it_runs_a_retry_of_a_failed_generation_anew(api, user, openai_standin):
    openai_standin.set_mode("http_500")
    failed = api.post(V1_GENERATIONS, BODY, format="json")
    openai_standin.set_mode("ok")

    retry = api.post(V1_GENERATIONS, BODY, format="json", HTTP_X_STAINLESS_RETRY_COUNT="1")

    assert failed.status_code == 500 and "x-should-retry" not in failed  # a provider 5xx may pass
    assert retry.status_code == 200
    assert list(Generation.objects.order_by("created_at").values_list("status", flat=True)) == ["failed", "succeeded"]
    assert balance_get(user=user)["credits"] == 99
    assert billing_audit() == []


def test_it_does_not_join_another_key_s_generation(api, user, make_user):
    from rest_framework.test import APIClient

    from accounts.services import api_key_create

    api.post(V1_GENERATIONS, BODY, format="json")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=user, name='second').raw_key}")

    other.post(V1_GENERATIONS, BODY, format="json", HTTP_X_STAINLESS_RETRY_COUNT="1")

    assert Generation.objects.count() == 2
