"""POST /billing/stripe/webhook: Stripe's events about our Checkout orders.

The signature is checked by the stripe package (`Stripe-Signature: t=…,v1=…`, HMAC-SHA256 with
STRIPE_WEBHOOK_SECRET, at most five minutes old), so a forged or replayed event changes nothing.
Stripe delivers at least once, maybe concurrently and out of order: the grant is made once by
the batch's unique order, and a refund seen first stops a later grant (billing.services).
A 2xx tells Stripe to stop retrying; an error we cannot handle now answers 500 so it retries.
"""

import json
import logging

import stripe
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing import stripe_checkout

logger = logging.getLogger(__name__)


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"message": message, "code": code}}, status=status)


@csrf_exempt  # authenticated by Stripe's signature, not a cookie
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        return _error(404, "notFound", "Stripe webhooks are not configured.")
    try:
        event = stripe.Webhook.construct_event(request.body, request.headers.get("Stripe-Signature"), secret)
    except stripe.SignatureVerificationError:
        return _error(400, "invalid_signature", "The Stripe-Signature header does not verify.")
    except ValueError:
        return _error(400, "invalid_request", "The body is not a Stripe event.")
    payload = json.loads(request.body)  # verified above; plain dicts from here on
    obj = (payload.get("data") or {}).get("object") if isinstance(payload, dict) else None
    if not isinstance(obj, dict):
        return _error(400, "invalid_request", "The event has no data.object.")
    if event.type in stripe_checkout.PAID_EVENTS:
        stripe_checkout.session_paid(obj)
    elif event.type == "charge.refunded":
        stripe_checkout.charge_refunded(obj)
    else:
        logger.debug("Stripe event %s (%s) ignored.", event.id, event.type)
    return JsonResponse({"received": True})
