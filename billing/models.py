"""Credits: per-user accounts, batches with expiry, and an append-only ledger.

Invariant (checked by `manage.py billing_audit`): for every batch,
remaining == the sum of its ledger rows, and 0 <= remaining <= amount.
Only billing/services/ writes these tables.
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

    class Meta:
        # Moving money is its own right, apart from "change credit account" (which only sets the account type).
        permissions = [
            ("grant_credits", "Can grant credits (new batches)"),
            ("adjust_credits", "Can adjust credits (signed corrections)"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.account_type})"


class CreditBatch(models.Model):
    class Source(models.TextChoices):
        PURCHASE = "purchase", _("Purchase")
        GRANT = "grant", _("Grant")
        PROMO = "promo", _("Promotion")
        ADJUSTMENT = "adjustment", _("Adjustment")
        REFUND = "refund", _("Refund (its batch expired during the generation)")
        SIGNUP_BONUS = "signup_bonus", _("Sign-up bonus")
        REDEMPTION = "redemption", _("Redemption code")

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="batches")
    amount = models.PositiveIntegerField()
    remaining = models.IntegerField()
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.GRANT)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)
    # The batch a paid Checkout order bought. Unique: however often Stripe delivers the
    # event, the second insert fails, so an order is granted exactly once.
    order = models.OneToOneField(
        "billing.CheckoutOrder", on_delete=models.PROTECT, null=True, blank=True, related_name="batch"
    )
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
            models.UniqueConstraint(
                fields=["account"], condition=Q(source="signup_bonus"), name="one_signup_bonus_per_account"
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
        REVERSE = "reverse", _("Payment refunded")

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
                    | (Q(kind__in=["charge", "expire", "reverse"]) & Q(amount__lt=0))
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
            models.UniqueConstraint(fields=["batch"], condition=Q(kind="reverse"), name="one_reversal_per_batch"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d} on batch {self.batch_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Ledger entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Ledger entries are append-only.")


class RedemptionCode(models.Model):
    """A gift code worth credits. Only a keyed digest of the code is stored (billing/codes.py)."""

    prefix = models.CharField(max_length=16, db_index=True, help_text="Non-secret start of the code, for display.")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    credits = models.PositiveIntegerField()
    credit_expiry_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="The credits expire this many days after redemption. Empty: never."
    )
    valid_until = models.DateTimeField(null=True, blank=True, help_text="Empty: the code never expires.")
    max_uses = models.PositiveIntegerField(default=1)
    uses = models.PositiveIntegerField(default=0)
    label = models.CharField(max_length=100, blank=True, db_index=True, help_text="The batch this code was made in.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(credits__gt=0), name="code_credits_positive"),
            models.CheckConstraint(condition=Q(max_uses__gt=0), name="code_max_uses_positive"),
            models.CheckConstraint(condition=Q(uses__lte=models.F("max_uses")), name="code_uses_within_max"),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.credits} credits)"

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.uses >= self.max_uses:
            return "used up"
        if self.valid_until is not None and self.valid_until <= timezone.now():
            return "expired"
        return "active"


class Redemption(models.Model):
    """One user's redemption of one code: the batch it granted. A user redeems a code at most once."""

    code = models.ForeignKey(RedemptionCode, on_delete=models.PROTECT, related_name="redemptions")
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="redemptions")
    batch = models.OneToOneField(CreditBatch, on_delete=models.PROTECT, related_name="redemption")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["code", "account"], name="one_redemption_per_code_account")]

    def __str__(self) -> str:
        return f"{self.code} by {self.account.user}"


class CreditPackage(models.Model):
    """What the Buy credits page sells through Stripe Checkout; staff edit these in the admin."""

    name = models.CharField(max_length=100)
    credits = models.PositiveIntegerField()
    unit_amount = models.PositiveIntegerField(
        help_text="The price in the currency's smallest unit (cents for USD, yen for JPY), as Stripe takes it."
    )
    currency = models.CharField(max_length=3, default="usd", help_text="ISO code, lower case (usd, eur, thb).")
    credit_expiry_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="The credits expire this many days after payment. Empty: never."
    )
    account_type = models.CharField(
        max_length=20, choices=AccountType.choices, blank=True, help_text="Upgrade the buyer to this type (optional)."
    )
    active = models.BooleanField(default=True)
    sort_order = models.IntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(credits__gt=0), name="package_credits_positive"),
            models.CheckConstraint(condition=Q(unit_amount__gt=0), name="package_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.credits} credits for {self.price}"

    @property
    def price(self) -> str:
        return format_price(self.unit_amount, self.currency)


# Currencies Stripe counts in whole units (no cents).
ZERO_DECIMAL_CURRENCIES = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)


def format_price(unit_amount: int, currency: str) -> str:
    if currency.lower() in ZERO_DECIMAL_CURRENCIES:
        return f"{unit_amount:,} {currency.upper()}"
    return f"{unit_amount / 100:,.2f} {currency.upper()}"


class CheckoutOrder(models.Model):
    """One Stripe Checkout purchase of a package; its terms are copied from the package when it starts."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        PAID = "paid", _("Paid")
        REFUNDED = "refunded", _("Refunded")
        FAILED = "failed", _("Not started")

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="orders")
    package = models.ForeignKey(CreditPackage, on_delete=models.PROTECT, related_name="orders")
    credits = models.PositiveIntegerField()
    unit_amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    credit_expiry_days = models.PositiveIntegerField(null=True, blank=True)
    account_type = models.CharField(max_length=20, choices=AccountType.choices, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    stripe_session_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    stripe_payment_intent = models.CharField(max_length=255, blank=True, db_index=True)
    needs_review = models.BooleanField(default=False, help_text="Refunded or paid with a mismatch: staff should look.")
    review_note = models.CharField(max_length=500, blank=True)
    credits_reversed = models.PositiveIntegerField(default=0, help_text="Credits taken back when it was refunded.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Order {self.pk}: {self.credits} credits ({self.status})"

    @property
    def price(self) -> str:
        return format_price(self.unit_amount, self.currency)
