"""The embedded Pillow renderer: real PNGs of the requested size that follow the prompt and references."""

import io

import pytest
from PIL import Image, ImageChops

from generations.providers import ProviderRequest, ReferenceImageData
from generations.providers.local import LocalProvider


@pytest.fixture(autouse=True)
def no_delay(settings):
    settings.LOCAL_PROVIDER_DELAY_SECONDS = 0


def _generate(prompt: str = "A lighthouse at dusk", *, n: int = 1, size: str = "640x360", references=()) -> list[bytes]:
    request = ProviderRequest(
        provider_model="gpt-image-2",
        prompt=prompt,
        n=n,
        size=size,
        quality="auto",
        reference_images=list(references),
    )
    return LocalProvider().generate(request).images


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
