"""Webhook endpoints, their deliveries and every attempt (imported by generations.models)."""

import secrets
import string

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

_ALPHABET = string.ascii_lowercase + string.digits

EVENT_TYPES = ("generation.succeeded", "generation.failed", "generation.canceled")


def _random_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def new_endpoint_id() -> str:
    return _random_id("we_")


def new_delivery_id() -> str:
    return _random_id("msg_")


def new_event_id() -> str:
    return _random_id("evt_")


def all_event_types() -> list[str]:
    return list(EVENT_TYPES)


class WebhookEndpoint(models.Model):
    """A URL of an account that receives signed events.

    The signing secret is stored encrypted (webhooks/secrets.py), never in clear. After a
    rotation the previous secret keeps signing beside the new one until `previous_secret_expires_at`.
    """

    id = models.CharField(max_length=40, primary_key=True, default=new_endpoint_id, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=all_event_types)
    description = models.CharField(max_length=200, blank=True)
    base_url = models.CharField(
        max_length=255,
        blank=True,
        help_text="Origin the endpoint was created through; image URLs are made absolute on it.",
    )
    secret_encrypted = models.TextField()
    previous_secret_encrypted = models.TextField(blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"{self.id} {self.url}"


class WebhookDelivery(models.Model):
    """One event for one endpoint. Its id is the `webhook-id` header: the same on every attempt."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    id = models.CharField(max_length=40, primary_key=True, default=new_delivery_id, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=40, default=new_event_id)
    event_type = models.CharField(max_length=40)
    generation = models.ForeignKey("generations.Generation", on_delete=models.CASCADE, related_name="+")
    body = models.TextField(help_text="The JSON body, built once: every attempt sends the same bytes.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the next attempt is due. While an attempt is in flight it is pushed past that
    # attempt's timeout, so the sweep (tasks.py) re-queues only a delivery whose worker died.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["endpoint", "-created_at"]),
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.event_type}"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery, as it went."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_rows")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True, help_text="Why no answer came (timeout, refused target, ...).")

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="one_webhook_attempt_per_number")]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}"
