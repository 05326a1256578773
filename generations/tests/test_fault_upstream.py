"""The provider answers 200, then stalls or drops the connection halfway through the body.

Real HTTP to the OpenAI stand-in (its stall_mid_body and drop_mid_body modes; the adapter's own
tests are in test_openai_provider). Each ends
as a failed generation with its id in the answer and every credit back; the stall ends
when the read timeout (GENERATION_TIMEOUT_SECONDS, shortened here) runs out, not never.
"""

import pytest

from billing.selectors import balance_get
from generations.models import Generation
from generations.tests.factories import GENERATIONS_URL
from testsupport.faults import assert_books_clean

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_cleanup")]

BODY = {"model": "gpt-image-2", "prompt": "A lighthouse in a storm", "size": "1024x1024", "quality": "low"}


@pytest.mark.parametrize(
    ("mode", "error_codes"),
    [
        ("stall_mid_body", {"provider_timeout"}),
        # A truncated body is a transport error or unparseable output, depending on where the read stopped.
        ("drop_mid_body", {"provider_unavailable", "provider_unreachable", "invalid_output"}),
    ],
)
def test_a_broken_upstream_body_fails_the_generation_and_refunds_it(
    api, user, openai_standin, settings, mode, error_codes
):
    settings.GENERATION_TIMEOUT_SECONDS = 2
    # A stall lasts a minute, far past the 2 s read timeout; a drop happens at once.
    openai_standin.set_mode(mode, delay=60 if mode == "stall_mid_body" else 0)

    response = api.post(GENERATIONS_URL, BODY, format="json")

    assert response.status_code == 500, response.content
    error = response.json()["error"]
    assert error["code"] == "generationFailed"
    generation = Generation.objects.get()
    assert generation.pk in error["message"]
    assert generation.status == Generation.Status.FAILED
    assert generation.error_code in error_codes
    assert generation.credits_refunded == generation.credits_charged > 0
    assert balance_get(user=user)["credits"] == 100
    assert len(openai_standin.requests) == 1  # a body cut short is not resent: the provider may have charged
    assert_books_clean()
