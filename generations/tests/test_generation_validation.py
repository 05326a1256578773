"""POST /api/v1/images/generations: what is refused (400 naming the field, nothing charged) and what is accepted.

Both documented request styles are covered: the older aspect_ratio + 1K/2K/4K and the
newer OpenAI-style size + auto/low/medium/high, and the mixes whose meaning is clear.
"""

import pytest
from django.conf import settings as django_settings

from billing.models import LedgerEntry
from billing.selectors import balance_get
from generations.models import GeneratedImage, Generation, ImageModel
from generations.tests.factories import (
    GENERATIONS_URL,
    api_client_for,
    decoded,
    image_bytes,
    noise_png,
    png_claiming_size,
    shows_reference_inset,
    upload,
)
from generations.validation import GenerationRequestSerializer, _unbound_fields

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_cleanup")]

BASE = {"model": "gpt-image-2", "prompt": "A red bicycle leaning on a blue wall"}


def body(**changes) -> dict:
    """BASE with fields changed; a value of None removes the field."""
    data = {**BASE, **changes}
    return {key: value for key, value in data.items() if value is not None}


def assert_refused_without_charge(response, user, *, field: str | None, credits_before: int = 100) -> str:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    if field:
        assert error["message"].startswith(f"{field}:"), error["message"]
    assert balance_get(user=user)["credits"] == credits_before
    assert not Generation.objects.exists()
    assert not LedgerEntry.objects.exclude(kind=LedgerEntry.Kind.GRANT).exists()
    return error["message"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"model": None}, "model"),
        ({"model": "dall-e-9"}, "model"),
        ({"model": ""}, "model"),
        ({"prompt": None}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * (django_settings.MAX_PROMPT_LENGTH + 1)}, "prompt"),
        ({"n": 0}, "n"),
        ({"n": 5}, "n"),
        ({"n": "abc"}, "n"),
        ({"aspect_ratio": "7:5"}, "aspect_ratio"),
        ({"aspect_ratio": "1:1", "quality": "8K"}, "quality"),
        ({"quality": "ultra"}, "quality"),
        ({"size": "big"}, "size"),
        ({"size": "1024"}, "size"),
        ({"size": "1024x1024x2"}, "size"),
        ({"size": "-1024x1024"}, "size"),
        ({"size": "0x1024"}, "size"),
        ({"size": "1024x0", "quality": "low"}, "size"),
        ({"size": "1024x\u00b2"}, "size"),  # "²" passes str.isdigit() but is no number
        ({"prompt": "A red\x00bicycle"}, "prompt"),  # Postgres text cannot hold NUL
        # size with a resolution tier: the tier would decide the size too.
        ({"size": "1024x1024", "quality": "1K"}, "size"),
        ({"size": "1536x1024", "quality": "4K", "aspect_ratio": "3:2"}, "size"),
        # aspect_ratio contradicting size.
        ({"size": "1024x1024", "aspect_ratio": "16:9"}, "aspect_ratio"),
        ({"size": "1536x1024", "aspect_ratio": "2:3", "quality": "high"}, "aspect_ratio"),
    ],
)
def test_it_rejects_an_invalid_field_naming_it_and_charges_nothing(api, user, changes, field):
    response = api.post(GENERATIONS_URL, body(**changes), format="json")

    assert_refused_without_charge(response, user, field=field)


@pytest.mark.parametrize(
    ("size", "problem"),
    [
        ("1000x1000", "multiples of 16"),
        ("4096x4096", "longest edge"),
        ("512x512", "pixel count"),
        ("3840x1024", "aspect ratio must be at most 3:1"),
        ("1024x3840", "aspect ratio must be at most 3:1"),
    ],
)
def test_it_rejects_a_size_outside_the_models_limits_saying_why(api, user, size, problem):
    response = api.post(GENERATIONS_URL, body(size=size, quality="low"), format="json")

    message = assert_refused_without_charge(response, user, field="size")
    assert problem in message


def test_it_accepts_a_prompt_of_exactly_the_maximum_length(api, user):
    response = api.post(GENERATIONS_URL, body(prompt="x" * django_settings.MAX_PROMPT_LENGTH), format="json")

    assert response.status_code == 200, response.content


def test_it_rejects_a_disabled_model(api, user):
    ImageModel.objects.filter(pk="gpt-image-2").update(enabled=False)

    response = api.post(GENERATIONS_URL, body(), format="json")

    assert_refused_without_charge(response, user, field="model")


def test_it_rejects_a_json_body_that_is_a_list(api, user):
    response = api.post(GENERATIONS_URL, [BASE], format="json")

    message = assert_refused_without_charge(response, user, field=None)
    assert "JSON object" in message


def test_it_rejects_malformed_json(api, user):
    response = api.post(GENERATIONS_URL, data='{"model": "gpt-image-2", "prompt": ', content_type="application/json")

    message = assert_refused_without_charge(response, user, field=None)
    assert message.startswith("Malformed request body")


@pytest.mark.parametrize("name", ["reference_image", "image"])
def test_it_rejects_reference_images_in_a_json_body(api, user, name):
    response = api.post(GENERATIONS_URL, body(**{name: "https://example.com/cat.png"}), format="json")

    assert_refused_without_charge(response, user, field="reference_image")


# --- Reference images (multipart) ---------------------------------------------


def post_with_references(api, *files, **changes):
    return api.post(GENERATIONS_URL, {**body(**changes), "reference_image": list(files)}, format="multipart")


@pytest.mark.parametrize("name", ["reference_image", "image[]"])
def test_it_rejects_a_reference_image_sent_as_text_instead_of_a_file(api, user, name):
    """`-F "reference_image=./reference.png"` (the @ forgotten) must not be charged as a plain generation."""
    response = api.post(GENERATIONS_URL, {**body(), name: "./reference.png"}, format="multipart")

    assert_refused_without_charge(response, user, field="reference_image")


def test_it_rejects_more_reference_images_than_the_model_allows(api, user):
    ImageModel.objects.filter(pk="gpt-image-2").update(reference_image_limit=2)

    response = post_with_references(api, *(upload(f"ref{i}.png", image_bytes()) for i in range(3)))

    message = assert_refused_without_charge(response, user, field="reference_image")
    assert "at most 2" in message


def test_it_accepts_as_many_reference_images_as_the_model_allows(api, user):
    ImageModel.objects.filter(pk="gpt-image-2").update(reference_image_limit=2)

    response = post_with_references(api, *(upload(f"ref{i}.png", image_bytes()) for i in range(2)))

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("notes.png", b"%PDF-1.7 definitely not an image", "image/png"),
        ("empty.png", b"", "image/png"),
        ("truncated.png", image_bytes("PNG")[:40], "image/png"),
        ("anim.gif", image_bytes("GIF"), "image/gif"),
        ("anim.png", image_bytes("GIF"), "image/png"),  # a GIF in disguise is still a GIF
        ("scan.bmp", image_bytes("BMP"), "image/bmp"),
    ],
)
def test_it_rejects_a_reference_file_that_is_not_a_png_jpeg_or_webp(api, user, name, content, content_type):
    response = post_with_references(api, upload("good.png", image_bytes()), upload(name, content, content_type))

    message = assert_refused_without_charge(response, user, field="reference_image")
    assert "file 2" in message


def test_it_rejects_an_oversized_reference_file(api, user, settings):
    settings.MAX_REFERENCE_IMAGE_BYTES = 4096
    content = noise_png()
    assert len(content) > 4096

    response = post_with_references(api, upload("big.png", content))

    message = assert_refused_without_charge(response, user, field="reference_image")
    assert "larger than" in message


def test_it_accepts_a_reference_file_of_exactly_the_maximum_size(api, user, settings):
    content = noise_png()
    settings.MAX_REFERENCE_IMAGE_BYTES = len(content)

    response = post_with_references(api, upload("big.png", content))

    assert response.status_code == 200, response.content


def test_it_rejects_a_reference_image_with_more_pixels_than_allowed(api, user, settings):
    settings.MAX_REFERENCE_IMAGE_PIXELS = 1000

    response = post_with_references(api, upload("ref.png", image_bytes(size=(64, 64))))

    message = assert_refused_without_charge(response, user, field="reference_image")
    assert "64x64" in message


@pytest.mark.parametrize(
    "dimensions",
    [
        (9000, 9000),  # over our limit (64 MP), under Pillow's own bomb threshold
        (60000, 60000),  # far over Pillow's threshold: Pillow refuses to open it at all
    ],
)
def test_it_rejects_a_decompression_bomb_without_decoding_it(api, user, dimensions):
    bomb = png_claiming_size(*dimensions)
    assert len(bomb) < 100  # tiny on the wire; billions of bytes once decoded

    response = post_with_references(api, upload("bomb.png", bomb))

    assert_refused_without_charge(response, user, field="reference_image")


@pytest.mark.parametrize(
    ("image_format", "name", "content_type"),
    [
        ("PNG", "photo.jpg", "image/jpeg"),
        ("JPEG", "photo.png", "image/png"),
        ("WEBP", "photo.gif", "image/gif"),
        ("WEBP", "blob", "application/octet-stream"),
    ],
)
def test_it_recognises_reference_images_by_content_not_by_name(api, user, image_format, name, content_type):
    content = image_bytes(image_format, size=(128, 128))

    response = post_with_references(api, upload(name, content, content_type))

    assert response.status_code == 200, response.content
    image = GeneratedImage.objects.get()
    with image.file.open("rb") as handle:
        output = handle.read()
    # The reference reached the renderer: it is pasted into the output.
    assert shows_reference_inset(output)


# --- Accepted requests: both styles, the allowed mixes, the defaults ------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # The defaults: auto, 1K, 1 credit (older docs).
        ({}, {"aspect_ratio": "auto", "quality": "1K", "size": "auto", "credits": 1}),
        # Older docs: aspect_ratio with a resolution tier.
        (
            {"aspect_ratio": "auto", "quality": "1K"},
            {"aspect_ratio": "auto", "quality": "1K", "size": "auto", "credits": 1},
        ),
        (
            {"aspect_ratio": "1:1", "quality": "1K"},
            {"aspect_ratio": "1:1", "quality": "1K", "size": "1024x1024", "credits": 1},
        ),
        ({"aspect_ratio": "16:9"}, {"aspect_ratio": "16:9", "quality": "1K", "size": "1360x768", "credits": 1}),
        (
            {"aspect_ratio": "1:1", "quality": "2K"},
            {"aspect_ratio": "1:1", "quality": "2K", "size": "2048x2048", "credits": 3},
        ),
        (
            {"aspect_ratio": "auto", "quality": "2K"},
            {"aspect_ratio": "auto", "quality": "2K", "size": "2048x2048", "credits": 3},
        ),
        (
            {"aspect_ratio": "16:9", "quality": "4K"},
            {"aspect_ratio": "16:9", "quality": "4K", "size": "3840x2160", "credits": 6},
        ),
        # Newer docs: OpenAI size with an OpenAI quality.
        (
            {"size": "1024x1024", "quality": "high"},
            {"aspect_ratio": "1:1", "quality": "high", "size": "1024x1024", "credits": 8},
        ),
        (
            {"size": "1536x1024", "quality": "low"},
            {"aspect_ratio": "3:2", "quality": "low", "size": "1536x1024", "credits": 1},
        ),
        (
            {"size": "2048x2048", "quality": "medium"},
            {"aspect_ratio": "1:1", "quality": "medium", "size": "2048x2048", "credits": 8},
        ),
        ({"size": "1024x1024"}, {"aspect_ratio": "1:1", "quality": "auto", "size": "1024x1024", "credits": 8}),
        (
            {"size": "auto", "quality": "medium"},
            {"aspect_ratio": "auto", "quality": "medium", "size": "auto", "credits": 3},
        ),
        (
            {"size": "1024x1024", "quality": "auto"},
            {"aspect_ratio": "1:1", "quality": "auto", "size": "1024x1024", "credits": 8},
        ),
        (
            {"size": "1024X1536", "quality": "low"},
            {"aspect_ratio": "2:3", "quality": "low", "size": "1024x1536", "credits": 1},
        ),
        # Mixes: aspect_ratio with an OpenAI quality (sized at 1K) ...
        (
            {"aspect_ratio": "16:9", "quality": "low"},
            {"aspect_ratio": "16:9", "quality": "low", "size": "1360x768", "credits": 1},
        ),
        (
            {"aspect_ratio": "1:1", "quality": "high"},
            {"aspect_ratio": "1:1", "quality": "high", "size": "1024x1024", "credits": 8},
        ),
        # ... and aspect_ratio agreeing with size.
        (
            {"aspect_ratio": "3:2", "size": "1536x1024", "quality": "medium"},
            {"aspect_ratio": "3:2", "quality": "medium", "size": "1536x1024", "credits": 3},
        ),
        (
            {"aspect_ratio": "16:9", "size": "3840x2160", "quality": "high"},
            {"aspect_ratio": "16:9", "quality": "high", "size": "3840x2160", "credits": 40},
        ),
        # aspect_ratio auto leaves the shape to size, so the reported ratio is the size's.
        (
            {"aspect_ratio": "auto", "size": "1024x1024", "quality": "low"},
            {"aspect_ratio": "1:1", "quality": "low", "size": "1024x1024", "credits": 1},
        ),
    ],
)
def test_it_accepts_both_request_styles_and_their_clear_mixes(api, user, changes, expected):
    response = api.post(GENERATIONS_URL, body(**changes), format="json")

    assert response.status_code == 200, response.content
    payload = response.json()
    assert {
        "aspect_ratio": payload["aspect_ratio"],
        "quality": payload["quality"],
        "size": payload["size"],
        "credits": payload["usage"]["credits"],
    } == expected
    assert payload["balance"]["credits"] == 100 - expected["credits"]
    assert balance_get(user=user)["credits"] == 100 - expected["credits"]
    image = GeneratedImage.objects.get()
    if expected["size"] != "auto":
        assert f"{image.width}x{image.height}" == expected["size"]


@pytest.mark.parametrize(
    "ratio", ["4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "5:4", "4:5", "21:9", "9:21", "2:1", "1:2", "3:1", "1:3"]
)
@pytest.mark.parametrize(("quality", "credits"), [("1K", 1), ("2K", 3), ("4K", 6)])
def test_it_prices_every_documented_ratio_at_every_tier(api, user, ratio, quality, credits):
    """The older docs' table: every listed ratio at 1K/2K/4K costs that tier's price, in that ratio."""
    response = api.post(GENERATIONS_URL, body(aspect_ratio=ratio, quality=quality), format="json")

    assert response.status_code == 200, response.content
    payload = response.json()
    assert payload["usage"]["credits"] == credits
    assert payload["aspect_ratio"] == ratio
    width, height = (int(edge) for edge in payload["size"].split("x"))
    want_w, want_h = (int(part) for part in ratio.split(":"))
    assert abs(width / height - want_w / want_h) / (want_w / want_h) <= 0.02
    image = GeneratedImage.objects.get()
    assert (image.width, image.height) == (width, height)


def test_it_accepts_a_multipart_form_with_blank_optional_fields(api, user):
    """HTML forms send empty strings for untouched fields: they mean "not given"."""
    response = api.post(
        GENERATIONS_URL, {**BASE, "n": "2", "aspect_ratio": "", "size": "", "quality": ""}, format="multipart"
    )

    assert response.status_code == 200, response.content
    payload = response.json()
    assert (payload["aspect_ratio"], payload["quality"], payload["size"]) == ("auto", "1K", "auto")
    assert payload["usage"]["credits"] == 2
    assert len(payload["images"]) == 2


def test_it_renders_an_auto_size_image_at_a_size_the_provider_may_pick(api, user):
    response = api.post(GENERATIONS_URL, body(), format="json")

    assert response.status_code == 200
    image = decoded(GeneratedImage.objects.get().file.read())
    assert image.size in {(1024, 1024), (1536, 1024), (1024, 1536)}


# --- Not enough credits --------------------------------------------------------------


@pytest.mark.parametrize(
    ("credits", "changes"), [(0, {}), (2, {"n": 3}), (7, {"size": "1024x1024", "quality": "high"})]
)
def test_it_refuses_with_402_before_calling_the_provider_when_credits_are_short(make_user, credits, changes):
    poor = make_user("poor@example.com", credits=credits)
    client = api_client_for(poor)

    response = client.post(GENERATIONS_URL, body(**changes), format="json")

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "insufficientCredits"
    assert balance_get(user=poor)["credits"] == credits
    assert not Generation.objects.exists()
    assert not GeneratedImage.objects.exists()
    assert not LedgerEntry.objects.exclude(kind=LedgerEntry.Kind.GRANT).exists()


def test_it_spends_the_last_credit_exactly(make_user):
    poor = make_user("poor@example.com", credits=8)
    client = api_client_for(poor)

    response = client.post(GENERATIONS_URL, body(size="1024x1024", quality="high"), format="json")

    assert response.status_code == 200
    assert response.json()["balance"]["credits"] == 0


def test_each_request_validates_with_fields_of_its_own():
    """The serializer copies its fields from unbound ones built once (validation.py): still one set per instance."""
    first, second = GenerationRequestSerializer(data={"n": 9}), GenerationRequestSerializer(data={"n": 2})

    assert not first.is_valid() and "n" in first.errors
    assert not second.is_valid() and "n" not in second.errors  # prompt and model are missing
    assert set(first.fields) == set(second.fields) and "async" in first.fields
    assert all(first.fields[name] is not second.fields[name] for name in first.fields)
    assert all(first.fields[name].parent is first for name in first.fields)
    assert all(second.fields[name].parent is second for name in second.fields)
    assert (first.fields["quality"].max_length, first.fields["n"].max_value) == (10, 4)
    templates = _unbound_fields(GenerationRequestSerializer)
    assert all(field.parent is None and field.field_name is None for field in templates.values())
