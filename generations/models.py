from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from generations.catalogue import catalogue_invalidate
from generations.failures import FailureCode
from generations.ids import new_generation_id, new_image_id


def default_aspect_ratios() -> list[str]:
    return [
        "auto",
        "1:1",
        "4:3",
        "3:4",
        "3:2",
        "2:3",
        "16:9",
        "9:16",
        "5:4",
        "4:5",
        "21:9",
        "9:21",
        "2:1",
        "1:2",
        "3:1",
        "1:3",
    ]


class CatalogueQuerySet(models.QuerySet):
    """Bulk writes to the catalogue invalidate every process' cached copy (generations/catalogue.py)."""

    def update(self, **kwargs):
        catalogue_invalidate()
        return super().update(**kwargs)

    def delete(self):
        catalogue_invalidate()
        return super().delete()

    def bulk_create(self, *args, **kwargs):
        catalogue_invalidate()
        return super().bulk_create(*args, **kwargs)


class CatalogueRow(models.Model):
    """A row of the catalogue: saving or deleting one invalidates the cached catalogue."""

    objects = CatalogueQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        catalogue_invalidate()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        catalogue_invalidate()
        return super().delete(*args, **kwargs)


class ImageModel(CatalogueRow):
    """A model the hub sells, edited by staff; its prices live in ModelPrice."""

    id = models.CharField("API model id", max_length=64, primary_key=True)
    display_name = models.CharField(max_length=100)
    provider = models.CharField(max_length=32, default="openai")
    provider_model = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    sort_order = models.PositiveIntegerField(default=0)
    default_aspect_ratio = models.CharField(max_length=10, default="auto")
    default_quality = models.CharField(max_length=10, default="1K")
    aspect_ratios = models.JSONField(default=default_aspect_ratios)
    tier_qualities = models.JSONField(
        default=list, help_text='Resolution tiers used with aspect_ratio, e.g. ["1K","2K","4K"].'
    )
    openai_qualities = models.JSONField(
        default=list, help_text='OpenAI-style qualities used with size, e.g. ["auto","low","medium","high"].'
    )
    sizes = models.JSONField(default=list, help_text="Advertised sizes; any WxH within the limits below is accepted.")
    reference_image_limit = models.PositiveSmallIntegerField(default=16)
    size_multiple = models.PositiveSmallIntegerField(default=16)
    max_edge = models.PositiveIntegerField(default=3840)
    min_pixels = models.PositiveIntegerField(default=655_360)
    max_pixels = models.PositiveIntegerField(default=8_294_400)
    max_aspect_ratio = models.FloatField(default=3.0, help_text="Longest edge divided by shortest edge, at most.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sort_order", "id"]

    def __str__(self) -> str:
        return self.id

    @property
    def qualities(self) -> list[str]:
        return [*self.tier_qualities, *self.openai_qualities]


class ModelPrice(CatalogueRow):
    """Credits per image for a quality, for images up to `max_pixels` pixels.

    The price of a request is the row with the smallest max_pixels that still
    covers the image, so bigger images fall into dearer rows.
    """

    model = models.ForeignKey(ImageModel, on_delete=models.CASCADE, related_name="prices")
    quality = models.CharField(max_length=10)
    max_pixels = models.PositiveIntegerField()
    credits_per_image = models.PositiveIntegerField()

    class Meta:
        ordering = ["model", "quality", "max_pixels"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "quality", "max_pixels"], name="one_price_per_model_quality_bracket"
            ),
            models.CheckConstraint(condition=Q(credits_per_image__gt=0), name="price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.model_id} {self.quality} ≤{self.max_pixels}px: {self.credits_per_image}"


class ProviderPrice(CatalogueRow):
    """What the provider charges the hub for a model, in USD per million tokens (staff edit it).

    Estimates each generation's provider cost from its token usage (generations/costs.py);
    a change applies to generations finishing afterwards, never to recorded ones. Part of the
    cached catalogue (generations/catalogue.py): an edit invalidates it like a price's.
    """

    model = models.OneToOneField(ImageModel, on_delete=models.CASCADE, primary_key=True, related_name="provider_price")
    input_text_usd_per_million = models.DecimalField("input text, USD / 1M tokens", max_digits=10, decimal_places=4)
    input_image_usd_per_million = models.DecimalField("input image, USD / 1M tokens", max_digits=10, decimal_places=4)
    output_usd_per_million = models.DecimalField("output, USD / 1M tokens", max_digits=10, decimal_places=4)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(input_text_usd_per_million__gte=0)
                & Q(input_image_usd_per_million__gte=0)
                & Q(output_usd_per_million__gte=0),
                name="provider_price_not_negative",
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_id} provider price"


class Generation(models.Model):
    """One generation request: what was asked, what it cost, what came back."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELED = "canceled", _("Canceled")  # by its owner while queued (transitions.generation_cancel)

    class Face(models.TextChoices):
        """The API a generation came through: the documented GIH API or the OpenAI-exact one."""

        API = "api", "/api/v1"
        OPENAI = "openai", "/v1 (OpenAI)"

    TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELED)

    id = models.CharField(max_length=40, primary_key=True, default=new_generation_id, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="generations")
    api_key = models.ForeignKey("accounts.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    model = models.ForeignKey(ImageModel, on_delete=models.PROTECT, related_name="generations")
    prompt = models.TextField()
    n = models.PositiveSmallIntegerField()
    aspect_ratio = models.CharField(max_length=10)
    quality = models.CharField(max_length=10)
    size = models.CharField(max_length=20, help_text="WxH sent to the provider, or auto.")
    provider_quality = models.CharField(max_length=10, help_text="Quality sent to the provider.")
    is_async = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    credits_per_image = models.PositiveIntegerField()
    credits_charged = models.PositiveIntegerField(default=0)
    credits_refunded = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True, choices=FailureCode.choices)
    error_message = models.TextField(blank=True, help_text="Raw provider reason; staff only, never sent to clients.")
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The claim token of the running attempt and its sign of life: a task redelivered
    # after its worker died takes over only a stale attempt (attempts.claim).
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Runs started (claims); the running one's token.")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life of the running attempt.")
    provider_request_id = models.CharField(max_length=128, blank=True, help_text="The provider's id of the call.")
    face = models.CharField(max_length=8, choices=Face.choices, default=Face.API)
    options = models.JSONField(
        default=dict, blank=True, help_text="Output options asked for: output_format, background, moderation, ..."
    )
    provider_output = models.JSONField(
        default=dict, blank=True, help_text="What the provider used: size, quality, background, output_format."
    )
    token_usage = models.JSONField(null=True, blank=True, help_text="OpenAI's token usage object of the call.")
    provider_cost_usd = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="Estimated provider cost: token usage at the model's provider price when it succeeded.",
    )
    livemode = models.BooleanField(
        default=True, help_text="False for a test key's generation: local renderer, no credits moved."
    )
    request_id = models.CharField(
        max_length=128, blank=True, help_text="X-Request-ID of the request that submitted it (find its log lines)."
    )
    # Not a column: the owner's usable credit batches as the success statement read them (for the balance in the
    # answer, billing.selectors.balance_get); None where nothing read them.
    usable_batches = None

    class Meta:
        ordering = ["-created_at"]
        # The account's lists and the API's cursor pages order by (created_at, id), newest first.
        indexes = [models.Index(fields=["user", "-created_at", "-id"], name="generation_user_created_id")]
        # The admin's "Fail and refund" moves money: its own right, not implied by viewing generations.
        permissions = [("fail_generation", "Can fail and refund unfinished generations")]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="one_generation_per_idempotency_key",
            ),
            models.CheckConstraint(condition=Q(n__gte=1) & Q(n__lte=4), name="generation_n_in_range"),
            models.CheckConstraint(
                condition=Q(credits_refunded__lte=models.F("credits_charged")), name="generation_refund_le_charge"
            ),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def credits_used(self) -> int:
        return self.credits_charged - self.credits_refunded

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL


def generated_image_path(instance: "GeneratedImage", filename: str) -> str:
    return filename  # the service builds the full, unguessable key


class GeneratedImage(models.Model):
    id = models.CharField(max_length=40, primary_key=True, default=new_image_id, editable=False)
    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(upload_to=generated_image_path, max_length=255)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    content_type = models.CharField(max_length=40, default="image/png")
    byte_size = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    expired_at = models.DateTimeField(
        null=True, blank=True, help_text="When the stored file was deleted (retention, or the owner's DELETE)."
    )

    class Meta:
        ordering = ["created_at", "id"]
        # The retention sweep's lookup: images still stored, oldest first.
        indexes = [
            models.Index(fields=["created_at"], condition=Q(expired_at__isnull=True), name="generatedimage_stored")
        ]

    def __str__(self) -> str:
        return self.id


class ReferenceImage(models.Model):
    """A reference image kept in storage so a queued generation can run in a worker."""

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="reference_images")
    position = models.PositiveSmallIntegerField()
    file = models.FileField(upload_to=generated_image_path, max_length=255)
    content_type = models.CharField(max_length=40)
    is_mask = models.BooleanField(default=False, help_text="The edit's mask, not a reference image.")
    expired_at = models.DateTimeField(
        null=True, blank=True, help_text="When the stored file was deleted (retention, or the owner's DELETE)."
    )

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return f"{self.generation_id} reference {self.position}"


# Registered with this app (their own module keeps this one about generations).
from generations.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint  # noqa: E402

__all__ = [
    "GeneratedImage",
    "Generation",
    "ImageModel",
    "ModelPrice",
    "ReferenceImage",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
