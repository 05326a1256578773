"""The docs page's OpenAI SDK section: the visitor's /v1 base URL, both SDKs, streaming and every /v1 error code."""

import re

import pytest
from django.urls import reverse

from gih.openai_errors import OPENAI_CODES, OPENAI_TYPES

pytestmark = pytest.mark.django_db


def test_it_documents_the_openai_face_with_the_visitors_base_url(client, settings):
    settings.ALLOWED_HOSTS = ["images.example.test"]

    content = client.get(reverse("accounts:docs"), HTTP_HOST="images.example.test").content.decode()

    section = content[content.index('id="openai-sdk"') : content.index('id="errors"')]
    assert 'base_url="http://images.example.test/v1"' in section
    assert 'baseURL: "http://images.example.test/v1"' in section
    for topic in (
        "b64_json",
        "toFile",
        "partial_images",
        "image_generation.completed",
        "x-stainless-retry-count",
        "x-should-retry",
        "output_format",
        "background",
        "mask",
        "input_fidelity",
        "moderation_blocked",
    ):
        assert topic in section, topic
    codes = set(re.findall(r"<code>([a-z_]+)</code>", section))
    assert set(OPENAI_CODES.values()) <= codes
    assert set(OPENAI_TYPES.values()) | {"server_error"} <= codes
