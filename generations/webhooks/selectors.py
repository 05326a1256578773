"""Reads for webhook endpoints and deliveries."""

from datetime import datetime

from django.db.models import QuerySet

from generations.webhooks.models import WebhookDelivery, WebhookEndpoint

RECENT_DELIVERIES = 10


def endpoints_for_user(*, user) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(user=user).order_by("created_at", "id")


def endpoint_get_for_user(*, user, endpoint_id: str) -> WebhookEndpoint | None:
    """The user's own endpoint, or None: another user's id is indistinguishable from an unknown one."""
    return WebhookEndpoint.objects.filter(pk=endpoint_id, user=user).first()


def endpoints_with_recent_deliveries(*, user) -> list[WebhookEndpoint]:
    """The user's endpoints, each with `recent` (its last deliveries, newest first)."""
    endpoints = list(endpoints_for_user(user=user))
    for endpoint in endpoints:
        endpoint.recent = list(endpoint.deliveries.order_by("-created_at", "-id")[:RECENT_DELIVERIES])
    return endpoints


def endpoints_subscribed(*, user_id: int, event_type: str) -> list[WebhookEndpoint]:
    return [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(user_id=user_id, enabled=True)
        if event_type in endpoint.events
    ]


def deliveries_overdue(*, before: datetime, limit: int) -> list[str]:
    """Pending deliveries whose next attempt was due before `before` (their task was lost or is late)."""
    return list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=before)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
