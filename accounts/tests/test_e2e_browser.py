"""End to end in headless Chromium: sign up, create a key in the UI, call the API with it, find the result.

Drives Debian's chromium (Playwright's own browser download is not used) against
pytest-django's live server, and saves screenshots of the main pages at desktop and
phone widths to test-artifacts/screenshots/ for a person to look at.
"""

import re
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect, sync_playwright

from accounts.models import ApiKey, User
from billing.services import credits_grant

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
PASSWORD = "Correct-Horse-Battery-42"

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: apt-get install -y chromium"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def browser(monkeypatch, settings, tmp_path):
    # Playwright's sync API keeps an event loop in this thread; the ORM calls made here
    # between browser steps are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.MEDIA_ROOT = tmp_path / "media"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def sign_up(page: Page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/")
    page.get_by_role("link", name="Sign up").first.click()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(f"{base_url}/")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def create_key(page: Page, base_url: str) -> str:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    expect(page).to_have_url(f"{base_url}/keys/")
    page.get_by_label("Name").fill("E2E laptop")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_text("It will not be shown again")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "key-created-desktop.png", full_page=True)
    secret = page.get_by_test_id("raw-key").input_value()
    assert re.fullmatch(r"gih_live_[A-Za-z0-9]{32}", secret)
    return secret


def test_it_signs_up_creates_a_key_generates_through_the_api_and_shows_the_result(live_server, browser):
    base_url = live_server.url
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    email = "e2e@example.com"

    sign_up(page, base_url, email)
    credits_grant(user=User.objects.get(email=email), amount=20, note="E2E starter credits")
    secret = create_key(page, base_url)

    # Reloading the page (re-sending the form) never shows the secret again, nor makes a second key.
    page.reload()
    expect(page).to_have_url(f"{base_url}/keys/")
    expect(page.get_by_text("no new key was created")).to_be_visible()
    assert secret not in page.content()
    expect(page.get_by_role("cell", name="E2E laptop")).to_have_count(1)

    response = requests.post(
        f"{base_url}/api/v1/images/generations",
        headers={"Authorization": f"Bearer {secret}"},
        json={"model": "gpt-image-2", "prompt": "A lighthouse at dawn, oil painting", "aspect_ratio": "1:1",
              "quality": "1K", "n": 1},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    generation = response.json()
    assert generation["status"] == "succeeded"

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Generations").click()
    expect(page.get_by_text(generation["id"])).to_be_visible()
    thumbnail = page.locator(".gen-thumb img").first
    expect(thumbnail).to_be_visible()
    # decode() waits for the (lazy) image to load, and fails if it cannot: visible is not loaded yet.
    assert thumbnail.evaluate("image => image.decode().then(() => image.naturalWidth)") == 1024  # the real PNG

    page.get_by_text(generation["id"]).click()
    expect(page.get_by_role("link", name="Download")).to_have_attribute("download", f"{generation['id']}-1.png")

    page.goto(f"{base_url}/")
    expect(page.get_by_test_id("balance")).to_have_text("19")

    page.goto(f"{base_url}/docs/")
    assert f"curl {base_url}/api/v1/models" in page.content()
    assert secret[:17] in page.content() and secret not in page.content()  # its display prefix only

    key_id = ApiKey.objects.get(user__email=email).pk
    save_screenshots(context, base_url, {"generation-detail": f"/generations/{generation['id']}/",
                                         "key-revoke": f"/keys/{key_id}/revoke/"})
    context.close()


def save_screenshots(logged_in, base_url: str, more_pages: dict[str, str]) -> None:
    """Full-page screenshots of the main pages at both widths, with the same session."""
    state = logged_in.storage_state()
    pages = {
        "home": "/",
        "keys": "/keys/",
        "generations": "/generations/",
        "credits": "/credits/",
        "playground": "/playground/",
        "docs": "/docs/",
        **more_pages,
    }
    for size, viewport in VIEWPORTS.items():
        context = logged_in.browser.new_context(viewport=viewport, storage_state=state)
        page = context.new_page()
        for name, path in pages.items():
            page.goto(f"{base_url}{path}")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=SCREENSHOTS / f"{name}-{size}.png", full_page=True)
        context.close()
        anonymous = logged_in.browser.new_context(viewport=viewport)
        page = anonymous.new_page()
        for name, path in {"landing": "/", "login": "/login/", "signup": "/signup/"}.items():
            page.goto(f"{base_url}{path}")
            page.screenshot(path=SCREENSHOTS / f"{name}-{size}.png", full_page=True)
        anonymous.close()
