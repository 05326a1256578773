"""The embedded Pillow renderer: real images of the requested size, format and background that follow the prompt
and references, real partial images while streaming, and honest token estimates."""

import io

import pytest
from PIL import Image, ImageChops

from generations.providers import ProviderRequest, ReferenceImageData
from generations.providers.local import LocalProvider


@pytest.fixture(autouse=True)
def no_delay(settings):
    settings.LOCAL_PROVIDER_DELAY_SECONDS = 0


def _request(prompt: str = "A lighthouse at dusk", *, n: int = 1, size: str = "640x360", references=(), **options):
    return ProviderRequest(
        provider_model="gpt-image-2",
        prompt=prompt,
        n=n,
        size=size,
        quality=options.pop("quality", "auto"),
        reference_images=list(references),
        **options,
    )


def _generate(prompt: str = "A lighthouse at dusk", **fields) -> list[bytes]:
    return LocalProvider().generate(_request(prompt, **fields)).images


def _open(content: bytes) -> Image.Image:
    return Image.open(io.BytesIO(content)).convert("RGB")


def _differs(first: bytes, second: bytes) -> bool:
    return ImageChops.difference(_open(first), _open(second)).getbbox() is not None


def test_it_renders_valid_pngs():
    [content] = _generate()

    assert content.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(content)) as image:
        assert image.format == "PNG"
        image.verify()


@pytest.mark.parametrize(("size", "expected"), [("640x360", (640, 360)), ("1024x1536", (1024, 1536))])
def test_it_renders_the_requested_size(size, expected):
    [content] = _generate(size=size)

    assert _open(content).size == expected


def test_it_renders_auto_as_1024_square():
    [content] = _generate(size="auto")

    assert _open(content).size == (1024, 1024)


def test_it_renders_n_distinct_images():
    images = _generate(n=3)

    assert len(images) == 3
    assert _differs(images[0], images[1]) and _differs(images[1], images[2])


def test_it_renders_different_images_for_different_prompts():
    [first] = _generate("A lighthouse at dusk")
    [second] = _generate("A bowl of ramen")

    assert _differs(first, second)


def test_it_renders_the_same_prompt_the_same_way():
    assert _generate("A lighthouse at dusk") == _generate("A lighthouse at dusk")


def test_it_shows_a_reference_image_in_the_output():
    buffer = io.BytesIO()
    Image.new("RGB", (200, 200), (255, 0, 255)).save(buffer, format="PNG")
    reference = ReferenceImageData(content=buffer.getvalue(), content_type="image/png", filename="magenta.png")

    [plain] = _generate()
    [with_reference] = _generate(references=[reference])

    assert _differs(plain, with_reference)
    # The inset sits in the bottom-left corner: the reference's magenta is drawn there.
    image = _open(with_reference)
    assert image.getpixel((40, image.height - 40)) == (255, 0, 255)


@pytest.mark.parametrize(("output_format", "pil_format"), [("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WEBP")])
def test_it_encodes_the_requested_output_format(output_format, pil_format):
    result = LocalProvider().generate(_request(output_format=output_format))

    with Image.open(io.BytesIO(result.images[0])) as image:
        assert image.format == pil_format
        assert image.size == (640, 360)
    assert result.output_format == output_format


def test_it_compresses_harder_at_a_lower_output_compression():
    [sharp] = _generate(output_format="jpeg", output_compression=100)
    [small] = _generate(output_format="jpeg", output_compression=10)

    assert len(small) < len(sharp) / 2


@pytest.mark.parametrize("output_format", ["png", "webp"])
def test_it_draws_a_transparent_background_with_real_alpha(output_format):
    result = LocalProvider().generate(_request(output_format=output_format, background="transparent"))

    with Image.open(io.BytesIO(result.images[0])) as image:
        assert image.mode == "RGBA"
        low, high = image.getchannel("A").getextrema()
    assert (low, high) == (0, 255)  # a see-through backdrop and an opaque subject
    assert result.background == "transparent"


def test_it_draws_an_opaque_background_by_default():
    result = LocalProvider().generate(_request())

    assert Image.open(io.BytesIO(result.images[0])).mode == "RGB"
    assert result.background == "opaque"


def test_it_streams_partial_images_that_sharpen_towards_the_final_one():
    partials = []

    result = LocalProvider().generate(_request(partial_images=3, output_format="webp"), on_partial=partials.append)

    assert [partial.partial_image_index for partial in partials] == [0, 1, 2]
    final = _open(result.images[0])
    distances = []
    for partial in partials:
        with Image.open(io.BytesIO(partial.content)) as image:
            assert (image.format, image.size) == ("WEBP", final.size)
            difference = ImageChops.difference(image.convert("RGB"), final).convert("L")
            distances.append(sum(value * count for value, count in enumerate(difference.histogram())))
    assert distances[0] > distances[1] > distances[2] > 0


def test_it_sends_no_partials_without_a_listener():
    result = LocalProvider().generate(_request(partial_images=3))

    assert len(result.images) == 1


def test_it_reports_what_it_used_and_estimates_tokens_like_openai():
    result = LocalProvider().generate(_request("x" * 40, n=2, size="auto", quality="auto"))

    assert (result.size, result.quality) == ("1024x1024", "high")
    assert result.usage.as_openai() == {
        "input_tokens": 10,
        "input_tokens_details": {"text_tokens": 10, "image_tokens": 0},
        "output_tokens": 2 * 4160,
        "total_tokens": 10 + 2 * 4160,
    }


def test_it_counts_reference_images_as_input_image_tokens():
    buffer = io.BytesIO()
    Image.new("RGB", (1024, 1024), "red").save(buffer, format="PNG")
    reference = ReferenceImageData(content=buffer.getvalue(), content_type="image/png", filename="red.png")

    result = LocalProvider().generate(_request(references=[reference], quality="low"))

    assert result.usage.input_image_tokens == 65 + 129 * 4  # 768x768: four 512-pixel tiles
    assert result.usage.output_tokens == 272 * 640 * 360 // (1024 * 1024) + 1
