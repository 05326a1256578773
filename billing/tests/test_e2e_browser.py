"""In headless Chromium: sign up, get the sign-up bonus, redeem a code on the Credits page, see balance and ledger;
and buy a package through Checkout (the Stripe stand-in plays the hosted payment page).

Uses the accounts browser test's machinery (Debian's chromium, pytest-django's live server).
"""

import re

import pytest
from playwright.sync_api import expect

from accounts.tests.test_e2e_browser import CHROMIUM, SCREENSHOTS, VIEWPORTS, browser, sign_up  # noqa: F401
from billing.codes import CodeTerms, redemption_codes_create
from billing.models import CheckoutOrder, CreditPackage
from billing.selectors import billing_audit

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: apt-get install -y chromium"),
    pytest.mark.django_db(transaction=True),
]


def test_it_signs_up_gets_the_bonus_redeems_a_code_and_shows_balance_and_ledger(live_server, request, settings):
    chromium = request.getfixturevalue("browser")  # the accounts browser test's fixture, imported above
    settings.SIGNUP_BONUS_CREDITS = 15
    settings.SIGNUP_BONUS_EXPIRES_DAYS = 30
    settings.STRIPE_SECRET_KEY = ""
    settings.SUPPORT_EMAIL = "sales@example.com"
    code = redemption_codes_create(count=1, terms=CodeTerms(credits=40, label="E2E"))[0]
    base_url = live_server.url
    context = chromium.new_context(viewport=VIEWPORTS["desktop"])
    page = context.new_page()

    sign_up(page, base_url, "bonus@example.com")
    expect(page.get_by_test_id("balance")).to_have_text("15")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Credits").click()
    expect(page.get_by_role("row", name="Sign-up bonus")).to_be_visible()
    page.get_by_label("Redemption code").fill(code.lower().replace("-", " "))  # typed sloppily
    page.get_by_role("button", name="Redeem").click()

    expect(page.get_by_text("40 credits were added")).to_be_visible()
    expect(page.locator(".stat-value").first).to_have_text("55")
    row = page.get_by_role("row", name=f"Redemption code {code[:8]}")
    expect(row).to_be_visible()
    expect(row.get_by_text("+40")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "credits-redeemed-desktop.png", full_page=True)

    page.get_by_label("Redemption code").fill(code)
    page.get_by_role("button", name="Redeem").click()
    expect(page.get_by_text("already redeemed")).to_be_visible()
    expect(page.locator(".stat-value").first).to_have_text("55")

    page.get_by_role("link", name="Buy credits").click()
    expect(page.get_by_text("Card payments are not available")).to_be_visible()
    expect(page.get_by_role("link", name="sales@example.com")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "buy-credits-desktop.png", full_page=True)
    context.close()
    assert billing_audit() == []


def test_it_buys_a_package_through_checkout_and_shows_the_paid_order(live_server, request, settings, stripe_standin):
    chromium = request.getfixturevalue("browser")
    CreditPackage.objects.create(name="Starter", credits=500, unit_amount=999, currency="usd", sort_order=1)
    CreditPackage.objects.create(name="Studio", credits=3000, unit_amount=4900, currency="usd", account_type="PRO",
                                 credit_expiry_days=365, sort_order=2)
    base_url = live_server.url
    context = chromium.new_context(viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    sign_up(page, base_url, "buyer@example.com")

    page.goto(f"{base_url}/credits/buy/")
    expect(page.get_by_test_id("package")).to_have_count(2)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "buy-packages-desktop.png", full_page=True)
    page.get_by_test_id("package").filter(has_text="Studio").get_by_role("button", name="Pay by card").click()
    expect(page).to_have_url(re.compile(re.escape(stripe_standin.base_url) + r"/pay/cs_test_\w+"))
    page.get_by_role("button", name="Pay").click()  # Stripe's hosted page, played by the stand-in

    expect(page.get_by_test_id("order")).to_have_attribute("data-status", "paid")
    expect(page.get_by_text("3,000 credits were added")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "order-paid-desktop.png", full_page=True)
    page.get_by_role("link", name="Your credits").click()
    expect(page.locator(".stat-value").first).to_have_text("3,000")
    expect(page.get_by_role("row", name=re.compile("Studio"))).to_be_visible()
    context.close()
    assert CheckoutOrder.objects.get().status == "paid"
    assert billing_audit() == []
