"""Writes for webhooks: endpoints (create, delete, rotate the secret) and deliveries (queue, resend)."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from generations.models import Generation
from generations.webhooks.models import EVENT_TYPES, WebhookDelivery, WebhookEndpoint, new_event_id
from generations.webhooks.secrets import secret_encrypt, secret_new
from generations.webhooks.selectors import endpoints_subscribed
from generations.webhooks.serializers import event_body
from generations.webhooks.targets import TargetRefused, target_resolve
from generations.webhooks.tasks import deliver_webhook
from gih.errors import InvalidRequest

logger = logging.getLogger(__name__)

ROTATION_OVERLAP = timedelta(hours=24)


@dataclass(frozen=True)
class EndpointWithSecret:
    endpoint: WebhookEndpoint
    secret: str  # shown to its owner in this answer only


def _checked_url(url: str) -> str:
    if len(url) > 2000:
        raise InvalidRequest("The URL is longer than 2000 characters.", param="url")
    try:
        target_resolve(url)
    except TargetRefused as refused:
        raise InvalidRequest(str(refused), param="url") from None
    return url


def _checked_events(events: list[str] | None) -> list[str]:
    if events is None:
        return list(EVENT_TYPES)
    unknown = [event for event in events if event not in EVENT_TYPES]
    if unknown or not events:
        raise InvalidRequest(f"events must be a non-empty list of: {', '.join(EVENT_TYPES)}.", param="events")
    return [event for event in EVENT_TYPES if event in events]  # documented order, no duplicates


def endpoint_create(
    *, user, url: str, events: list[str] | None = None, description: str = "", base_url: str = ""
) -> EndpointWithSecret:
    """Add an endpoint; its URL must pass the SSRF guard now (and again at every delivery)."""
    url = _checked_url(url)
    events = _checked_events(events)
    if len(description) > 200:
        raise InvalidRequest("description is longer than 200 characters.", param="description")
    if WebhookEndpoint.objects.filter(user=user).count() >= settings.WEBHOOK_MAX_ENDPOINTS:
        raise InvalidRequest(f"An account can have at most {settings.WEBHOOK_MAX_ENDPOINTS} webhook endpoints.")
    secret = secret_new()
    endpoint = WebhookEndpoint.objects.create(
        user=user,
        url=url,
        events=events,
        description=description,
        base_url=base_url,
        secret_encrypted=secret_encrypt(secret),
    )
    return EndpointWithSecret(endpoint=endpoint, secret=secret)


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Delete the endpoint with its deliveries; a retry still queued for it then does nothing."""
    endpoint.delete()


def endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> EndpointWithSecret:
    """A new secret; the current one keeps signing beside it for 24 h, so receivers can switch over."""
    secret = secret_new()
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.previous_secret_encrypted = locked.secret_encrypted
        locked.previous_secret_expires_at = timezone.now() + ROTATION_OVERLAP
        locked.secret_encrypted = secret_encrypt(secret)
        locked.save(update_fields=["previous_secret_encrypted", "previous_secret_expires_at", "secret_encrypted"])
    return EndpointWithSecret(endpoint=locked, secret=secret)


def _queue(delivery_ids: list[str]) -> None:
    """Publish each delivery's first attempt; a broker outage leaves them to the sweep (tasks.py)."""
    for delivery_id in delivery_ids:
        try:
            deliver_webhook.delay(delivery_id)
        except Exception:  # any broker failure: the row is pending and due, the sweep sends it
            logger.warning("Could not queue webhook delivery %s; the sweep will send it", delivery_id, exc_info=True)


def deliveries_create_for_generation(*, generation: Generation, status: str) -> list[WebhookDelivery]:
    """One delivery per subscribed endpoint of the owner, queued once committed. Called on generation_finished."""
    event_type = f"generation.{status}"
    # Read with the success on PostgreSQL (generations/success_statement.py), at the same moment a query here would.
    read_ids = getattr(generation, "subscribed_endpoint_ids", {}).get(event_type)
    endpoints = endpoints_subscribed(user_id=generation.user_id, event_type=event_type, read_ids=read_ids)
    if not endpoints:
        return []
    event_id, now = new_event_id(), timezone.now()
    deliveries = [
        WebhookDelivery(
            endpoint=endpoint,
            event_id=event_id,
            event_type=event_type,
            generation=generation,
            body=event_body(
                event_id=event_id,
                event_type=event_type,
                generation=generation,
                base_url=endpoint.base_url,
                created_at=now,
            ),
            next_attempt_at=now,
            created_at=now,
        )
        for endpoint in endpoints
    ]
    WebhookDelivery.objects.bulk_create(deliveries)
    transaction.on_commit(lambda: _queue([delivery.pk for delivery in deliveries]))
    return deliveries


def delivery_resend(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send the same event again as a new delivery (a new webhook-id; the body and its event id are the same)."""
    if not delivery.endpoint.enabled:
        raise InvalidRequest("This endpoint is disabled; create it again to receive events.")
    resent = WebhookDelivery.objects.create(
        endpoint=delivery.endpoint,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        generation_id=delivery.generation_id,
        body=delivery.body,
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: _queue([resent.pk]))
    return resent
