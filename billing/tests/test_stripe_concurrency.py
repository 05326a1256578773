"""Postgres: Stripe delivering the same paid event five times at once, over HTTP to a live server."""

import pytest
import requests

from billing.models import CheckoutOrder, CreditBatch, CreditPackage, LedgerEntry
from billing.selectors import balance_get, billing_audit
from billing.stripe_checkout import checkout_start
from testsupport.concurrency import run_together
from testsupport.stripe_standin import DEFAULT_WEBHOOK_SECRET, sign

pytestmark = pytest.mark.django_db(transaction=True)


def post_signed(url: str, body: str) -> int:
    headers = {"Content-Type": "application/json", "Stripe-Signature": sign(body, DEFAULT_WEBHOOK_SECRET)}
    return requests.post(url, data=body.encode(), headers=headers, timeout=60).status_code


def test_five_concurrent_deliveries_of_a_paid_session_credit_it_once(live_server, stripe_standin, make_user):
    buyer = make_user("buyer@example.com")
    package = CreditPackage.objects.create(name="Bulk", credits=1000, unit_amount=4900, currency="eur")
    order = checkout_start(user=buyer, package=package, success_url="http://x/ok", cancel_url="http://x/no").order
    body = stripe_standin.event("checkout.session.completed", stripe_standin.pay(order.stripe_session_id))
    url = f"{live_server.url}/billing/stripe/webhook"

    statuses = run_together(5, lambda _: post_signed(url, body))

    assert statuses == [200] * 5
    assert CreditBatch.objects.filter(order=order).count() == 1
    assert LedgerEntry.objects.filter(batch__order=order).count() == 1
    assert CheckoutOrder.objects.get(pk=order.pk).status == "paid"
    assert balance_get(user=buyer)["credits"] == 1000
    assert billing_audit() == []


def test_five_concurrent_refund_deliveries_take_back_once(live_server, stripe_standin, make_user):
    buyer = make_user("buyer@example.com")
    package = CreditPackage.objects.create(name="Bulk", credits=1000, unit_amount=4900, currency="eur")
    order = checkout_start(user=buyer, package=package, success_url="http://x/ok", cancel_url="http://x/no").order
    url = f"{live_server.url}/billing/stripe/webhook"
    paid = stripe_standin.event("checkout.session.completed", stripe_standin.pay(order.stripe_session_id))
    assert post_signed(url, paid) == 200
    refund = stripe_standin.event("charge.refunded", stripe_standin.refund(order.stripe_session_id))

    statuses = run_together(5, lambda _: post_signed(url, refund))

    assert statuses == [200] * 5
    assert LedgerEntry.objects.filter(kind="reverse").count() == 1
    assert CheckoutOrder.objects.get(pk=order.pk).credits_reversed == 1000
    assert balance_get(user=buyer)["credits"] == 0
    assert billing_audit() == []
