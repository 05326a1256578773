"""The OpenAI adapter's output options, token usage and streaming, over real HTTP against the stand-in."""

import io

import pytest
from PIL import Image

from generations.providers import ProviderError, ProviderRequest, ReferenceImageData
from generations.providers.openai import OpenAIProvider


@pytest.fixture(autouse=True)
def fast_provider(monkeypatch, settings):
    monkeypatch.setattr(OpenAIProvider, "backoff_seconds", (0.01, 0.01))
    settings.PROVIDER_CONNECT_TIMEOUT_SECONDS = 1.0


def _request(**overrides) -> ProviderRequest:
    fields = {
        "provider_model": "gpt-image-2",
        "prompt": "A glass of water on a table",
        "n": 1,
        "size": "1024x1024",
        "quality": "low",
        "timeout_seconds": 10.0,
    }
    return ProviderRequest(**{**fields, **overrides})


def _png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    output = io.BytesIO()
    Image.new(mode, size).save(output, format="PNG")
    return output.getvalue()


def _stream(request: ProviderRequest):
    partials = []
    result = OpenAIProvider().generate(request, on_partial=partials.append)
    return partials, result


def test_it_sends_the_output_options_and_reads_back_what_openai_used(openai_standin):
    request = _request(output_format="webp", output_compression=60, background="transparent", moderation="low")

    result = OpenAIProvider().generate(request)

    [sent] = openai_standin.requests
    assert {key: sent.json[key] for key in ("output_format", "output_compression", "background", "moderation")} == {
        "output_format": "webp",
        "output_compression": 60,
        "background": "transparent",
        "moderation": "low",
    }
    with Image.open(io.BytesIO(result.images[0])) as image:
        assert (image.format, image.mode) == ("WEBP", "RGBA")
    assert (result.size, result.quality, result.background, result.output_format) == (
        "1024x1024",
        "low",
        "transparent",
        "webp",
    )


def test_it_leaves_unset_options_to_openai(openai_standin):
    OpenAIProvider().generate(_request())

    [sent] = openai_standin.requests
    assert not {"output_format", "output_compression", "background", "moderation", "stream"} & set(sent.json)


def test_it_parses_openai_token_usage(openai_standin):
    result = OpenAIProvider().generate(_request(n=2, quality="medium", prompt="x" * 20))

    assert result.usage.as_openai() == {
        "input_tokens": 5,
        "input_tokens_details": {"text_tokens": 5, "image_tokens": 0},
        "output_tokens": 2 * 1056,
        "total_tokens": 5 + 2 * 1056,
    }


def test_it_sends_a_mask_and_input_fidelity_with_an_edit(openai_standin):
    reference = ReferenceImageData(content=_png((64, 64)), content_type="image/png", filename="photo.png")
    mask = ReferenceImageData(content=_png((64, 64), "RGBA"), content_type="image/png", filename="mask.png")

    result = OpenAIProvider().generate(_request(reference_images=[reference], mask=mask, input_fidelity="high"))

    [sent] = openai_standin.requests
    assert sent.path == "/v1/images/edits"
    assert sent.fields["input_fidelity"] == "high"
    assert [(file.name, file.filename) for file in sent.files] == [("image[]", "photo.png"), ("mask", "mask.png")]
    assert result.usage.input_image_tokens > 0


def test_it_streams_from_openai_and_relays_each_partial_image(openai_standin):
    partials, result = _stream(_request(partial_images=2, output_format="jpeg"))

    [sent] = openai_standin.requests
    assert (sent.json["stream"], sent.json["partial_images"]) == (True, 2)
    assert [partial.partial_image_index for partial in partials] == [0, 1]
    for content in [partial.content for partial in partials] + result.images:
        with Image.open(io.BytesIO(content)) as image:
            assert (image.format, image.size) == ("JPEG", (1024, 1024))
    assert len(result.images) == 1
    assert result.usage.output_tokens == 272
    assert (result.size, result.output_format) == ("1024x1024", "jpeg")


def test_it_streams_an_edit_as_image_edit_events(openai_standin):
    reference = ReferenceImageData(content=_png((64, 64)), content_type="image/png", filename="photo.png")

    partials, result = _stream(_request(reference_images=[reference], partial_images=1))

    [sent] = openai_standin.requests
    assert (sent.path, sent.fields["stream"], sent.fields["partial_images"]) == ("/v1/images/edits", "true", "1")
    assert len(partials) == 1 and len(result.images) == 1


def test_it_collects_one_completed_event_per_image(openai_standin):
    partials, result = _stream(_request(n=3, partial_images=0))

    assert partials == []
    assert len(result.images) == 3
    assert result.usage.output_tokens == 3 * 272


def test_it_reports_an_error_event_as_a_retryable_provider_failure(openai_standin):
    openai_standin.set_mode("stream_error")

    with pytest.raises(ProviderError) as caught:
        _stream(_request(partial_images=2))

    assert (caught.value.code, caught.value.permanent) == ("provider_unavailable", False)
    assert "server had an error" in caught.value.message


def test_it_reports_a_moderation_error_event_as_moderation_blocked(openai_standin):
    openai_standin.set_mode("stream_moderation")
    partials = []

    with pytest.raises(ProviderError) as caught:
        OpenAIProvider().generate(_request(partial_images=1), on_partial=partials.append)

    assert (caught.value.code, caught.value.permanent) == ("moderation_blocked", True)
    assert len(partials) == 1  # relayed before the refusal came


def test_it_reports_a_stream_that_ends_without_an_image(openai_standin):
    openai_standin.set_mode("stream_truncated")

    with pytest.raises(ProviderError) as caught:
        _stream(_request(partial_images=1))

    assert (caught.value.code, caught.value.permanent) == ("provider_unavailable", False)


def test_it_reports_a_moderation_refusal_before_the_stream_as_moderation_blocked(openai_standin):
    openai_standin.set_mode("moderation_400")

    with pytest.raises(ProviderError) as caught:
        _stream(_request(partial_images=2))

    assert (caught.value.code, caught.value.permanent) == ("moderation_blocked", True)


def test_it_times_out_a_stream_that_goes_silent(openai_standin):
    openai_standin.set_mode("ok", delay=3.0)  # spread over the events: 1.5 s of silence first

    with pytest.raises(ProviderError) as caught:
        _stream(_request(partial_images=1, timeout_seconds=0.3))

    assert (caught.value.code, caught.value.permanent) == ("provider_timeout", False)
