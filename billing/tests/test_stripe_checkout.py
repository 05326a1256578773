"""Stripe Checkout top-ups, end to end over real HTTP: the stripe package against the local stand-in,
and webhook deliveries signed as Stripe signs them."""

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from billing.models import CheckoutOrder, CreditBatch, CreditPackage, LedgerEntry
from billing.selectors import balance_get, billing_audit
from billing.services import credits_expire_due, credits_grant
from billing.tests.factories import charge, make_generation, refund
from testsupport.stripe_standin import DEFAULT_WEBHOOK_SECRET, StripeStandin, sign

pytestmark = pytest.mark.django_db

WEBHOOK = "/billing/stripe/webhook"


@pytest.fixture
def package(db) -> CreditPackage:
    return CreditPackage.objects.create(name="Starter", credits=500, unit_amount=999, currency="usd",
                                        credit_expiry_days=365)


@pytest.fixture
def buyer(make_user, client):
    user = make_user("buyer@example.com")
    client.force_login(user)
    return user


def start_checkout(client, package) -> CheckoutOrder:
    response = client.post(f"/credits/buy/{package.pk}/")
    assert response.status_code == 303, response.content
    order = CheckoutOrder.objects.get(package=package)
    assert response["Location"].endswith(f"/pay/{order.stripe_session_id}")
    return order


def deliver(client, body: str, *, secret: str = DEFAULT_WEBHOOK_SECRET, timestamp: int | None = None):
    return client.post(WEBHOOK, body, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=sign(body, secret, timestamp))


def paid_event(standin: StripeStandin, order: CheckoutOrder, kind: str = "checkout.session.completed") -> str:
    return standin.event(kind, standin.pay(order.stripe_session_id))


def test_the_buy_page_offers_codes_and_support_when_stripe_is_not_configured(buyer, client, package, settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.SUPPORT_EMAIL = "sales@example.com"

    html = client.get("/credits/buy/").content.decode()

    assert "Card payments are not available" in html and "mailto:sales@example.com" in html
    assert "Redeem a code" in html and "Pay by card" not in html
    assert client.post(f"/credits/buy/{package.pk}/").status_code == 404
    assert not CheckoutOrder.objects.exists()


def test_it_creates_a_checkout_session_through_the_stripe_package(buyer, client, package, stripe_standin):
    html = client.get("/credits/buy/").content.decode()
    assert "Starter" in html and "9.99 USD" in html and "Pay by card" in html

    order = start_checkout(client, package)

    (call,) = stripe_standin.requests
    assert call["authorization"] == f"Bearer {stripe_standin.secret_key}"
    assert call["idempotency_key"] == f"gih-checkout-order-{order.pk}"
    session = stripe_standin.sessions[order.stripe_session_id]
    assert (session["amount_total"], session["currency"], session["mode"]) == (999, "usd", "payment")
    assert session["client_reference_id"] == str(order.pk) and session["customer_email"] == "buyer@example.com"
    assert session["success_url"].endswith("/credits/buy/success/?session_id={CHECKOUT_SESSION_ID}")
    assert (order.status, order.credits, order.unit_amount) == ("pending", 500, 999)
    assert balance_get(user=buyer)["credits"] == 0


def test_a_paid_session_credits_the_package_once(buyer, client, package, stripe_standin):
    order = start_checkout(client, package)
    body = paid_event(stripe_standin, order)

    first = deliver(client, body)
    for _ in range(4):  # Stripe retries; the same event, or the same session in a second event type
        assert deliver(client, body).status_code == 200
    deliver(client, paid_event(stripe_standin, order, "checkout.session.async_payment_succeeded"))

    assert first.status_code == 200 and first.json() == {"received": True}
    order.refresh_from_db()
    assert order.status == "paid" and order.paid_at is not None and order.stripe_payment_intent.startswith("pi_")
    batch = CreditBatch.objects.get(order=order)
    assert (batch.source, batch.amount, batch.remaining) == ("purchase", 500, 500)
    assert batch.expires_at is not None
    assert LedgerEntry.objects.filter(batch=batch).count() == 1
    assert balance_get(user=buyer)["credits"] == 500
    page = client.get("/credits/").content.decode()
    assert "Card orders" in page and "Paid" in page
    assert billing_audit() == []


def test_an_unpaid_completed_session_credits_nothing_until_the_payment_succeeds(buyer, client, package,
                                                                                 stripe_standin):
    order = start_checkout(client, package)
    pending = stripe_standin.pay(order.stripe_session_id, payment_status="unpaid")

    assert deliver(client, stripe_standin.event("checkout.session.completed", pending)).status_code == 200
    assert balance_get(user=buyer)["credits"] == 0
    deliver(client, paid_event(stripe_standin, order, "checkout.session.async_payment_succeeded"))
    assert balance_get(user=buyer)["credits"] == 500


@pytest.mark.parametrize("tamper", ["wrong_secret", "stale", "no_header", "edited_body"])
def test_a_forged_or_stale_signature_is_refused_and_credits_nothing(buyer, client, package, stripe_standin, tamper):
    order = start_checkout(client, package)
    body = paid_event(stripe_standin, order)
    if tamper == "wrong_secret":
        response = deliver(client, body, secret="whsec_attacker")
    elif tamper == "stale":
        response = deliver(client, body, timestamp=int(time.time()) - 3600)
    elif tamper == "no_header":
        response = client.post(WEBHOOK, body, content_type="application/json")
    else:
        header = sign(body, DEFAULT_WEBHOOK_SECRET)
        edited = body.replace('"amount_total": 999', '"amount_total": 1')
        response = client.post(WEBHOOK, edited, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not CreditBatch.objects.exists()
    order.refresh_from_db()
    assert order.status == "pending"


def test_a_signed_body_that_is_not_an_event_is_a_clear_400(client, stripe_standin):
    response = deliver(client, "not json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"
    assert client.get(WEBHOOK).status_code == 405


def test_a_session_paid_for_another_amount_is_flagged_not_credited(buyer, client, package, stripe_standin):
    order = start_checkout(client, package)
    session = stripe_standin.pay(order.stripe_session_id)
    session["amount_total"] = 1

    assert deliver(client, stripe_standin.event("checkout.session.completed", session)).status_code == 200

    order.refresh_from_db()
    assert order.needs_review and order.status == "pending" and not CreditBatch.objects.exists()


def test_events_for_sessions_and_charges_that_are_not_ours_are_acknowledged_and_ignored(client, stripe_standin):
    foreign_session = {"id": "cs_test_other", "payment_status": "paid", "amount_total": 5, "currency": "usd"}
    foreign_charge = {"id": "ch_other", "payment_intent": "pi_other", "metadata": {}}
    for body in (stripe_standin.event("checkout.session.completed", foreign_session),
                 stripe_standin.event("charge.refunded", foreign_charge),
                 stripe_standin.event("customer.created", {"id": "cus_1"})):
        assert deliver(client, body).status_code == 200
    assert not CreditBatch.objects.exists()


def test_a_refund_takes_back_only_what_is_left_and_flags_the_order(buyer, client, package, stripe_standin):
    order = start_checkout(client, package)
    deliver(client, paid_event(stripe_standin, order))
    charge(user=buyer, amount=120, generation=make_generation(buyer, credits_per_image=120))
    refund = stripe_standin.event("charge.refunded", stripe_standin.refund(order.stripe_session_id))

    assert deliver(client, refund).status_code == 200
    assert deliver(client, refund).status_code == 200  # redelivered: once

    order.refresh_from_db()
    assert (order.status, order.needs_review, order.credits_reversed) == ("refunded", True, 380)
    batch = CreditBatch.objects.get(order=order)
    assert batch.remaining == 0
    reversal = LedgerEntry.objects.get(batch=batch, kind="reverse")
    assert reversal.amount == -380
    assert balance_get(user=buyer)["credits"] == 0
    assert billing_audit() == []


def test_a_refund_of_a_batch_already_spent_takes_nothing_and_never_goes_below_zero(buyer, client, package,
                                                                                   stripe_standin):
    order = start_checkout(client, package)
    deliver(client, paid_event(stripe_standin, order))
    charge(user=buyer, amount=500, generation=make_generation(buyer, credits_per_image=500))

    deliver(client, stripe_standin.event("charge.refunded", stripe_standin.refund(order.stripe_session_id)))

    order.refresh_from_db()
    assert (order.status, order.credits_reversed, order.needs_review) == ("refunded", 0, True)
    assert not LedgerEntry.objects.filter(kind="reverse").exists()
    assert CreditBatch.objects.get(order=order).remaining == 0
    assert billing_audit() == []


def test_a_failed_generation_never_refunds_into_a_refunded_orders_batch(buyer, client, package, stripe_standin):
    order = start_checkout(client, package)
    deliver(client, paid_event(stripe_standin, order))
    credits_grant(user=buyer, amount=50, note="staff grant")  # never expires: charged after the package's batch
    generation = make_generation(buyer, credits_per_image=530)
    charge(user=buyer, amount=530, generation=generation)  # 500 from the order's batch, 30 from the grant
    deliver(client, stripe_standin.event("charge.refunded", stripe_standin.refund(order.stripe_session_id)))

    result = refund(generation=generation, amount=530)  # the generation fails after the payment was refunded

    assert (result.refunded, result.already_refunded) == (30, False)  # only the grant's share comes back
    assert balance_get(user=buyer)["credits"] == 50
    assert CreditBatch.objects.get(order=order).remaining == 0
    assert not LedgerEntry.objects.filter(batch__order=order, kind="refund").exists()
    generation.refresh_from_db()
    assert (generation.credits_charged, generation.credits_refunded) == (530, 30)
    assert credits_expire_due() == 0
    assert billing_audit() == []


def test_a_refund_seen_before_the_payment_stops_the_grant(buyer, client, package, stripe_standin):
    order = start_checkout(client, package)
    paid = paid_event(stripe_standin, order)

    deliver(client, stripe_standin.event("charge.refunded", stripe_standin.refund(order.stripe_session_id)))
    deliver(client, paid)

    order.refresh_from_db()
    assert order.status == "refunded" and order.needs_review
    assert not CreditBatch.objects.exists()
    assert balance_get(user=buyer)["credits"] == 0


def test_the_success_page_shows_the_order_and_fulfils_it_if_the_webhook_is_late(buyer, client, package,
                                                                                  stripe_standin):
    order = start_checkout(client, package)
    url = f"/credits/buy/success/?session_id={order.stripe_session_id}"
    pending = client.get(url)
    assert pending.status_code == 200 and 'data-status="pending"' in pending.content.decode()

    stripe_standin.pay(order.stripe_session_id)  # paid at Stripe; the event has not arrived
    paid = client.get(url).content.decode()
    deliver(client, paid_event(stripe_standin, order))  # then it does

    assert 'data-status="paid"' in paid and "500 credits were added" in paid
    assert CreditBatch.objects.filter(order=order).count() == 1
    assert balance_get(user=buyer)["credits"] == 500
    retrieved = [call for call in stripe_standin.requests if call["path"].endswith(order.stripe_session_id)]
    assert len(retrieved) == 2


def test_the_success_page_is_the_buyers_only(buyer, client, package, stripe_standin, make_user):
    order = start_checkout(client, package)
    client.force_login(make_user("someone@example.com"))
    assert client.get(f"/credits/buy/success/?session_id={order.stripe_session_id}").status_code == 404
    assert client.get("/credits/buy/success/").status_code == 404


def test_a_package_can_upgrade_the_account_type_but_never_downgrades(buyer, client, stripe_standin):
    pro = CreditPackage.objects.create(name="Pro", credits=10, unit_amount=2000, account_type="PRO")
    order = start_checkout(client, pro)
    deliver(client, paid_event(stripe_standin, order))
    assert balance_get(user=buyer)["account_type"] == "PRO"

    buyer.credit_account.account_type = "ENTERPRISE"
    buyer.credit_account.save()
    order2 = start_checkout_again(client, pro)
    deliver(client, paid_event(stripe_standin, order2))
    buyer.credit_account.refresh_from_db()
    assert buyer.credit_account.account_type == "ENTERPRISE"


def start_checkout_again(client, package) -> CheckoutOrder:
    client.post(f"/credits/buy/{package.pk}/")
    return CheckoutOrder.objects.filter(package=package).order_by("-pk").first()


def test_inactive_packages_are_not_sold(buyer, client, package, stripe_standin):
    package.active = False
    package.save()
    assert "Starter" not in client.get("/credits/buy/").content.decode()
    assert client.post(f"/credits/buy/{package.pk}/").status_code == 404


def test_stripe_being_down_leaves_a_clear_message_and_no_pending_order(buyer, client, package, stripe_standin):
    stripe_standin.fail_next = 10  # more than the package's retries

    response = client.post(f"/credits/buy/{package.pk}/", follow=True)

    assert "Card payments are unavailable right now" in response.content.decode()
    assert CheckoutOrder.objects.get().status == "failed"
    assert "Card orders" not in client.get("/credits/").content.decode()


def test_the_hosted_page_stand_in_pays_and_returns_to_the_success_page(buyer, client, package, stripe_standin):
    order = start_checkout(client, package)
    session = stripe_standin.sessions[order.stripe_session_id]

    response = requests.post(session["url"], allow_redirects=False, timeout=10)

    assert response.status_code == 303
    target = urlsplit(response.headers["Location"])
    assert parse_qs(target.query)["session_id"] == [order.stripe_session_id]
    assert "500 credits were added" in client.get(f"{target.path}?{target.query}").content.decode()


def test_staff_see_orders_and_clear_the_review_flag(admin_client, buyer, client, package, stripe_standin):
    order = start_checkout(client, package)
    deliver(client, paid_event(stripe_standin, order))
    deliver(client, stripe_standin.event("charge.refunded", stripe_standin.refund(order.stripe_session_id)))

    listing = admin_client.get("/admin/billing/checkoutorder/?needs_review__exact=1").content.decode()
    assert "buyer@example.com" in listing
    admin_client.post("/admin/billing/checkoutorder/", {"action": "mark_reviewed", "_selected_action": [order.pk]})
    order.refresh_from_db()
    assert not order.needs_review and order.status == "refunded"
    assert admin_client.get("/admin/billing/creditpackage/").status_code == 200


def test_the_audit_flags_a_paid_order_without_its_batch(buyer, client, package, stripe_standin):
    order = start_checkout(client, package)
    CheckoutOrder.objects.filter(pk=order.pk).update(status="paid")  # as a bug would: paid, never granted

    (problem,) = billing_audit()
    assert problem.account_id == buyer.pk and "paid without a batch" in problem.message


@pytest.mark.parametrize("language,words", [("zh-hans", "购买积分"), ("th", "ซื้อเครดิต")])
def test_the_money_pages_speak_the_users_language(buyer, client, package, stripe_standin, settings, language, words):
    buyer.language = language
    buyer.save(update_fields=["language"])
    order = start_checkout(client, package)
    deliver(client, paid_event(stripe_standin, order))

    pages = ["/credits/buy/", "/credits/", f"/credits/buy/success/?session_id={order.stripe_session_id}", "/"]
    html = [client.get(path).content.decode() for path in pages]

    assert words in html[0] and words in html[1] and words in html[3]
    assert "500" in html[2] and "Payment received" not in html[2]
    settings.STRIPE_SECRET_KEY = ""
    assert "Card payments are not available" not in client.get("/credits/buy/").content.decode()


def test_saving_an_order_or_code_page_in_the_admin_changes_nothing(admin_client, buyer, client, package,
                                                                   stripe_standin):
    from billing.codes import CodeTerms, redemption_codes_create
    from billing.models import RedemptionCode

    order = start_checkout(client, package)
    redemption_codes_create(count=1, terms=CodeTerms(credits=5))
    code = RedemptionCode.objects.get()
    stale_order = admin_client.get(f"/admin/billing/checkoutorder/{order.pk}/change/")
    deliver(client, paid_event(stripe_standin, order))  # paid while staff had the page open
    RedemptionCode.objects.filter(pk=code.pk).update(uses=1)

    assert stale_order.status_code == 200
    admin_client.post(f"/admin/billing/checkoutorder/{order.pk}/change/", {"_save": "Save"})
    admin_client.post(f"/admin/billing/redemptioncode/{code.pk}/change/", {
        "redemptions-TOTAL_FORMS": "0", "redemptions-INITIAL_FORMS": "0", "_save": "Save"})

    order.refresh_from_db()
    code.refresh_from_db()
    assert order.status == "paid" and code.uses == 1


def test_a_signed_event_without_an_object_is_a_clear_400(client, stripe_standin):
    body = '{"id": "evt_1", "object": "event", "type": "charge.refunded", "data": []}'
    assert deliver(client, body).status_code == 400
