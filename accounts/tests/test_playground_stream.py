"""The playground's stream: the API's events for the signed-in user, partial images first; refusals answer JSON
before anything is charged (the page then submits the form the plain way), and Chromium shows the partials.
"""

import json
import re

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect, sync_playwright

from accounts.tests.test_e2e_browser import CHROMIUM, CHROMIUM_ARGS
from billing.models import LedgerEntry
from billing.selectors import balance_get, billing_audit
from generations.models import Generation
from gih.sse import iter_events

pytestmark = pytest.mark.django_db(transaction=True)

FORM = {"model": "gpt-image-2", "prompt": "A paper lantern at night", "quality": "1K", "aspect_ratio": "1:1", "n": 1}


@pytest.fixture(autouse=True)
def local_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_it_streams_partial_images_then_the_final_one_charged_once(make_user):
    user = make_user(credits=10)

    response = signed_in(user).post(reverse("accounts:playground_stream"), {**FORM, "idempotency_key": "pg-1"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    events = list(iter_events(response.streaming_content))
    kinds = [event.event for event in events]
    assert kinds == ["image_generation.partial_image"] * 2 + ["image_generation.completed"], kinds
    generation = Generation.objects.get()
    assert response["x-gih-generation-id"] == generation.pk
    assert json.loads(events[-1].data)["generation_id"] == generation.pk
    assert generation.status == Generation.Status.SUCCEEDED
    assert balance_get(user=user)["credits"] == 9
    assert billing_audit() == []


def test_it_refuses_an_invalid_form_or_short_credits_as_json_without_charging(make_user):
    poor = make_user(credits=0)
    client = signed_in(make_user(credits=10))

    invalid = client.post(reverse("accounts:playground_stream"), {**FORM, "prompt": ""})
    short = signed_in(poor).post(reverse("accounts:playground_stream"), FORM)

    assert invalid.status_code == 400 and invalid.json()["error"]["code"] == "invalid_request"
    assert short.status_code == 402 and short.json()["error"]["code"] == "insufficient_credits"
    assert not Generation.objects.exists()
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE).exists()


def test_it_needs_a_signed_in_user_and_a_post(make_user):
    assert Client().post(reverse("accounts:playground_stream"), FORM).status_code == 302
    assert signed_in(make_user(credits=10)).get(reverse("accounts:playground_stream")).status_code == 405


# Records, across page loads, each image the page adds to its stream preview, in order.
RECORD_IMAGES = """
new MutationObserver(function (mutations) {
  mutations.forEach(function (mutation) {
    mutation.addedNodes.forEach(function (node) {
      if (node.tagName === "IMG" && node.dataset.kind) window.recordImage(node.dataset.kind);
    });
  });
}).observe(document, { childList: true, subtree: true });
"""


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: apt-get install -y chromium")
def test_the_playground_shows_a_partial_image_before_the_final_one(live_server, make_user, settings, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API keeps a loop in this thread
    settings.LOCAL_PROVIDER_DELAY_SECONDS = 1.5  # spread over the partials and the final image
    user = make_user(credits=10)
    session = signed_in(user).cookies[settings.SESSION_COOKIE_NAME].value
    shown: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context()
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
        page = context.new_page()
        page.expose_binding("recordImage", lambda source, kind: shown.append(kind))
        page.add_init_script(RECORD_IMAGES)
        page.goto(f"{live_server.url}{reverse('accounts:playground')}")
        page.get_by_label("Prompt").fill(FORM["prompt"])
        page.get_by_role("button", name="Generate").click()
        expect(page.get_by_test_id("stream-preview").locator("img[data-kind=partial]")).to_be_visible()
        expect(page).to_have_url(re.compile(r"/generations/gen_[a-z0-9]+/$"), timeout=60_000)
        expect(page.locator("#live-status")).to_have_text("Succeeded")
        browser.close()

    assert "partial" in shown and "final" in shown, shown
    assert shown == ["partial"] * shown.count("partial") + ["final"] * shown.count("final"), shown
    assert Generation.objects.get().status == Generation.Status.SUCCEEDED
    assert balance_get(user=user)["credits"] == 9
