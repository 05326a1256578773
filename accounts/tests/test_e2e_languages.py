"""In headless Chromium, in English, Simplified Chinese and Thai: sign up, create an API key, price and run a
generation in the playground, and open its page; screenshots of each step go to tmp/artifacts/i18n/.

Chinese is chosen by the browser's Accept-Language, Thai with the language switcher, English is the default.
Every label the test looks for is the catalogue's translation, so a page left in English fails here.
"""

import re
from pathlib import Path

import pytest
from django.utils import translation
from playwright.sync_api import Page, expect, sync_playwright

from accounts.models import User
from accounts.tests.test_e2e_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD
from billing.services import credits_grant

ARTIFACTS = Path(__file__).resolve().parents[2] / "tmp" / "artifacts" / "i18n"
# language: (browser locale, how the language gets chosen)
LANGUAGES = {"en": ("en-US", "default"), "zh-hans": ("zh-CN", "accept-language"), "th": ("en-US", "switcher")}

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: apt-get install -y chromium"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def browser(monkeypatch, settings, tmp_path):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.MEDIA_ROOT = tmp_path / "media"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def shoot(page: Page, language: str, step: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{language}-{step}.png", full_page=True)


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_it_walks_from_sign_up_to_a_generation_in_each_language(live_server, browser, language):
    locale, chosen_by = LANGUAGES[language]
    base_url = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
    page = context.new_page()
    email = f"e2e-{language}@example.com"

    def t(text: str) -> str:
        with translation.override(language):
            return translation.gettext(text)

    page.goto(f"{base_url}/")
    if chosen_by == "switcher":
        page.get_by_role("button", name="ไทย").click()
    expect(page.locator("html")).to_have_attribute("lang", language)
    shoot(page, language, "1-landing")

    # Sign up.
    page.get_by_role("link", name=t("Sign up")).first.click()
    page.get_by_label(t("Email address")).fill(email)
    page.get_by_label(t("Password"), exact=True).fill(PASSWORD)
    page.get_by_label(t("Password again")).fill(PASSWORD)
    page.get_by_role("button", name=t("Sign up")).click()
    expect(page.get_by_role("heading", name=t("Dashboard"))).to_be_visible()
    expect(page.get_by_text(t("Welcome! Your account is ready. Create an API key to start."))).to_be_visible()
    user = User.objects.get(email=email)
    assert user.language == language  # remembered from the sign-up page's language
    credits_grant(user=user, amount=20, note="E2E starter credits")
    page.reload()
    expect(page.get_by_test_id("usage")).to_be_visible()
    shoot(page, language, "2-dashboard")

    # Create a key.
    page.get_by_role("navigation", name=t("Main")).get_by_role("link", name=t("API keys")).click()
    page.get_by_label(t("Name")).fill("E2E laptop")
    page.get_by_role("button", name=t("Create key")).click()
    expect(page.get_by_text(t("Copy this key now. It will not be shown again."))).to_be_visible()
    assert re.fullmatch(r"gih_live_[A-Za-z0-9]{32}", page.get_by_test_id("raw-key").input_value())
    shoot(page, language, "3-key-created")

    # Playground: the price before sending, updated when the selection changes.
    page.get_by_role("navigation", name=t("Main")).get_by_role("link", name=t("Playground")).click()
    quote = page.get_by_test_id("quote")
    expect(quote.locator('[data-quote="credits"]')).to_have_text("1")  # gpt-image-2's default: 1K
    expect(quote.locator('[data-quote="balance_after"]')).to_have_text("19")
    page.get_by_label(t("Aspect ratio")).select_option("16:9")
    page.get_by_label(t("Quality")).select_option("2K")
    page.get_by_label(t("Number of images")).fill("2")
    expect(quote.locator('[data-quote="credits"]')).to_have_text("6")  # 2K is 3 credits an image
    expect(quote.locator('[data-quote="balance_after"]')).to_have_text("14")
    page.get_by_label(t("Prompt")).fill("A lighthouse at dawn, oil painting")
    shoot(page, language, "4-playground")
    page.get_by_role("button", name=t("Generate")).click()

    # The generation's page.
    expect(page).to_have_url(re.compile(r"/generations/gen_[a-z0-9]+/$"))
    expect(page.locator("#live-status")).to_have_text(t("Succeeded"))
    expect(page.locator(".image-card img")).to_have_count(2)
    expect(page.get_by_role("link", name=t("Download")).first).to_be_visible()
    shoot(page, language, "5-generation")

    page.get_by_role("navigation", name=t("Main")).get_by_role("link", name=t("Generations")).click()
    expect(page.locator(".gen-card")).to_have_count(1)
    page.get_by_role("navigation", name=t("Main")).get_by_role("link", name=t("Credits")).click()
    expect(page.get_by_role("cell", name="-6")).to_be_visible()
    shoot(page, language, "6-credits")
    context.close()
