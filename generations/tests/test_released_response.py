"""A generation's answer is freed when it is sent, not at the next cyclic collection (api.ReleasedResponseMixin).

The view is called as Django's handler calls it (RequestFactory: the test client adds reference cycles of its own),
with the collector off, so only reference counting can free the response.
"""

import gc
import weakref

import pytest
from django.test import RequestFactory

from generations.api import ImageGenerationView
from generations.api_openai import ImagesView

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_cleanup")]

BODY = {"model": "gpt-image-2", "prompt": "A lighthouse at dusk", "quality": "low", "size": "1024x1024"}


@pytest.mark.parametrize(
    ("view", "path", "body"),
    [
        (ImagesView, "/v1/images/generations", {**BODY, "response_format": "b64_json"}),
        (ImageGenerationView, "/api/v1/images/generations", BODY),
    ],
    ids=["v1-b64", "api-v1"],
)
def test_the_answer_is_freed_by_reference_counting(issued_key, openai_standin, s3_storage, view, path, body):
    handler = view.as_view()

    def call():
        request = RequestFactory().post(
            path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {issued_key.raw_key}"
        )
        response = handler(request)
        response.render()
        return response

    call()  # warm-up: catalogue, connections
    gc.collect()
    gc.disable()
    try:
        response = call()
        assert response.status_code == 200, response.content
        assert len(response.content) > 1000
        released = weakref.ref(response)
        del response
        assert released() is None, "a reference cycle kept the answer"
    finally:
        gc.enable()
