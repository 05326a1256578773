"""Reads for webhook endpoints and deliveries."""

from datetime import datetime

from django.db import connection
from django.db.models import QuerySet

from accounts.limits import json_list
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


# Which of an owner's endpoints are on, and for what. Raw SQL: it runs after every generation, and most owners have
# no endpoint, so building the ORM's query cost more than the answer (bench/RESULTS.md).
_SUBSCRIPTIONS_SQL = f"SELECT id, events FROM {WebhookEndpoint._meta.db_table} WHERE user_id = %s AND enabled"  # noqa: S608

# The same question as one PostgreSQL scalar subquery (parameters: owner id, event type), answered by the statement
# that records a success (generations/success_statement.py), so it costs no round trip of its own. An array's jsonb
# containment of a string is its membership; test_webhook_subscriptions.py holds it to the Python filter above.
SUBSCRIBED_IDS_SQL = (
    f"(SELECT array_agg(id) FROM {WebhookEndpoint._meta.db_table} "  # noqa: S608
    "WHERE user_id = %s AND enabled AND events @> to_jsonb(%s::text))"
)


def endpoints_subscribed(*, user_id: int, event_type: str, read_ids: list[str] | None = None) -> list[WebhookEndpoint]:
    """The owner's enabled endpoints subscribed to `event_type`, oldest first.

    `read_ids`: their ids when the caller read them already (SUBSCRIBED_IDS_SQL); None reads them here.
    """
    if read_ids is not None:
        subscribed = read_ids
    else:
        with connection.cursor() as cursor:
            cursor.execute(_SUBSCRIPTIONS_SQL, [user_id])
            subscribed = [endpoint_id for endpoint_id, events in cursor.fetchall() if event_type in json_list(events)]
    if not subscribed:
        return []
    return list(WebhookEndpoint.objects.filter(pk__in=subscribed).order_by("created_at", "id"))


def deliveries_overdue(*, before: datetime, limit: int) -> list[str]:
    """Pending deliveries whose next attempt was due before `before` (their task was lost or is late)."""
    return list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=before)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
