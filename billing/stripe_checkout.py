"""Stripe Checkout: start an order's Checkout Session, and turn Stripe's view of a session into a grant.

Every call to Stripe is here, through the official `stripe` package (StripeClient, with
STRIPE_API_BASE so the tests reach a local stand-in over real HTTP). Credits move only in
billing.services (order_grant, order_reverse); this module decides when to call them.
"""

import logging
from dataclasses import dataclass

import stripe
from django.conf import settings

from billing.models import CheckoutOrder, CreditPackage
from billing.services import order_grant, order_reverse

logger = logging.getLogger(__name__)

STRIPE_TIMEOUT_SECONDS = 20
PAID_EVENTS = frozenset({"checkout.session.completed", "checkout.session.async_payment_succeeded"})


class CheckoutUnavailable(Exception):
    """Stripe could not be reached or refused the request; the buyer can try again."""


def is_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def _client() -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        http_client=stripe.RequestsClient(timeout=STRIPE_TIMEOUT_SECONDS),
        max_network_retries=2,  # with an idempotency key, so a retried create makes one session
    )


@dataclass(frozen=True)
class Checkout:
    order: CheckoutOrder
    url: str


def checkout_start(*, user, package: CreditPackage, success_url: str, cancel_url: str) -> Checkout:
    """A pending order with the package's terms as they are now, and its Checkout Session."""
    order = CheckoutOrder.objects.create(
        account_id=user.pk,
        package=package,
        credits=package.credits,
        unit_amount=package.unit_amount,
        currency=package.currency.lower(),
        credit_expiry_days=package.credit_expiry_days,
        account_type=package.account_type,
    )
    metadata = {"gih_order_id": str(order.pk)}
    try:
        session = _client().v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": order.currency,
                            "unit_amount": order.unit_amount,
                            "product_data": {"name": f"{package.name} ({order.credits:,} credits)"},
                        },
                    }
                ],
                "client_reference_id": str(order.pk),
                "customer_email": user.email,
                "metadata": metadata,
                # Copied onto the payment, so a refund's charge names the order even if it comes first.
                "payment_intent_data": {"metadata": metadata},
                "success_url": f"{success_url}?session_id={{CHECKOUT_SESSION_ID}}",
                "cancel_url": cancel_url,
            },
            options={"idempotency_key": f"gih-checkout-order-{order.pk}"},
        )
    except stripe.StripeError as error:
        logger.warning("Stripe refused a Checkout Session for order %s: %s", order.pk, error)
        CheckoutOrder.objects.filter(pk=order.pk).update(status=CheckoutOrder.Status.FAILED)
        raise CheckoutUnavailable(str(error)) from error
    CheckoutOrder.objects.filter(pk=order.pk).update(stripe_session_id=session.id)
    order.stripe_session_id = session.id
    return Checkout(order=order, url=session.url)


def _order_for_session(session: dict) -> CheckoutOrder | None:
    order = CheckoutOrder.objects.filter(stripe_session_id=session.get("id")).first()
    if order is None:  # the session id was not saved (a crash right after create): its reference names the order
        reference = session.get("client_reference_id") or (session.get("metadata") or {}).get("gih_order_id")
        if reference and str(reference).isdigit():
            order = CheckoutOrder.objects.filter(pk=int(reference)).first()
    return order


def session_paid(session: dict) -> CheckoutOrder | None:
    """A Checkout Session Stripe reports: grant its order if it is paid, for the amount the order asked."""
    order = _order_for_session(session)
    if order is None:
        logger.warning("Stripe session %s has no order here; ignored.", session.get("id"))
        return None
    if session.get("payment_status") != "paid":
        return order  # e.g. a delayed payment method: async_payment_succeeded comes later
    if session.get("amount_total") != order.unit_amount or (session.get("currency") or "").lower() != order.currency:
        logger.error("Stripe session %s paid %s %s for order %s priced %s; not granted.", session.get("id"),
                     session.get("amount_total"), session.get("currency"), order.pk, order.price)
        CheckoutOrder.objects.filter(pk=order.pk).update(
            needs_review=True, review_note=f"Paid {session.get('amount_total')} {session.get('currency')}: not granted"
        )
        return order
    return order_grant(order_id=order.pk, payment_intent=session.get("payment_intent") or "").order


def charge_refunded(charge: dict) -> CheckoutOrder | None:
    """A refunded charge: take back what is left of its order's batch."""
    payment_intent = charge.get("payment_intent") or ""
    order = CheckoutOrder.objects.filter(stripe_payment_intent=payment_intent).first() if payment_intent else None
    if order is None:
        reference = (charge.get("metadata") or {}).get("gih_order_id")
        if reference and str(reference).isdigit():
            order = CheckoutOrder.objects.filter(pk=int(reference)).first()
    if order is None:
        logger.info("Refunded charge %s is not for one of our orders; ignored.", charge.get("id"))
        return None
    order_reverse(order_id=order.pk, note=f"Payment refunded (charge {charge.get('id')})")
    order.refresh_from_db()
    return order


def order_sync(*, order: CheckoutOrder) -> CheckoutOrder:
    """Ask Stripe about a pending order's session (the success page), and grant it if paid."""
    if order.status != CheckoutOrder.Status.PENDING or not order.stripe_session_id or not is_configured():
        return order
    try:
        session = _client().v1.checkout.sessions.retrieve(order.stripe_session_id)
    except stripe.StripeError as error:
        logger.warning("Could not read Stripe session %s: %s", order.stripe_session_id, error)
        return order
    session_paid(session.to_dict())
    order.refresh_from_db()
    return order
