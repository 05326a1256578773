"""Credits: per-user accounts, batches with expiry, and an append-only ledger.

Invariant (checked by `manage.py billing_audit`): for every batch,
remaining == the sum of its ledger rows, and 0 <= remaining <= amount.
Only billing/services.py writes these tables.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AccountType(models.TextChoices):
    FREE = "FREE", _("Free")
    PRO = "PRO", _("Pro")
    ENTERPRISE = "ENTERPRISE", _("Enterprise")


class CreditAccount(models.Model):
    """One per user; its row is what every credit movement locks."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, primary_key=True, related_name="credit_account"
    )
    account_type = models.CharField(max_length=20, choices=AccountType.choices, default=AccountType.FREE)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user} ({self.account_type})"


class CreditBatch(models.Model):
    class Source(models.TextChoices):
        PURCHASE = "purchase", _("Purchase")
        GRANT = "grant", _("Grant")
        PROMO = "promo", _("Promotion")
        ADJUSTMENT = "adjustment", _("Adjustment")
        REFUND = "refund", _("Refund (its batch expired during the generation)")

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="batches")
    amount = models.PositiveIntegerField()
    remaining = models.IntegerField()
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.GRANT)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "credit batches"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["account", "expires_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="batch_amount_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=models.F("amount")), name="batch_remaining_in_range"
            ),
        ]

    def __str__(self) -> str:
        return f"Batch {self.pk}: {self.remaining}/{self.amount} ({self.source})"

    def is_expired(self, now=None) -> bool:
        # A batch is unusable from the very second it expires.
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())


class LedgerEntry(models.Model):
    """One credit movement on one batch. Rows are never updated or deleted."""

    class Kind(models.TextChoices):
        GRANT = "grant", _("Grant")
        CHARGE = "charge", _("Charge")
        REFUND = "refund", _("Refund")
        EXPIRE = "expire", _("Expire")
        ADJUST = "adjust", _("Adjust")

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="ledger")
    batch = models.ForeignKey(CreditBatch, on_delete=models.PROTECT, related_name="ledger")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount = models.IntegerField(help_text="Signed: positive adds credits to the batch.")
    generation = models.ForeignKey(
        "generations.Generation", on_delete=models.PROTECT, null=True, blank=True, related_name="ledger"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name_plural = "ledger entries"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "-created_at"])]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_amount_nonzero"),
            models.CheckConstraint(
                condition=(
                    (Q(kind__in=["grant", "refund"]) & Q(amount__gt=0))
                    | (Q(kind__in=["charge", "expire"]) & Q(amount__lt=0))
                    | Q(kind="adjust")
                ),
                name="ledger_sign_matches_kind",
            ),
            models.UniqueConstraint(
                fields=["generation", "batch"], condition=Q(kind="charge"), name="one_charge_per_generation_batch"
            ),
            models.UniqueConstraint(
                fields=["generation", "batch"], condition=Q(kind="refund"), name="one_refund_per_generation_batch"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d} on batch {self.batch_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Ledger entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Ledger entries are append-only.")
