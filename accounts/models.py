from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.models import AccountType


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, username: str):
        # Addresses are stored lower-cased, so every spelling of one finds its user (log-in, admin log-in).
        return self.get(**{self.model.USERNAME_FIELD: username.strip().lower()})

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A customer or a staff member; the email address is the login."""

    username = None
    email = models.EmailField("email address", unique=True)
    # The account area's language (a code from settings.LANGUAGES); blank follows the browser.
    language = models.CharField(max_length=16, blank=True, default="")

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    def __str__(self) -> str:
        return self.email


class SpendPeriod(models.TextChoices):
    """The window a spend limit counts in: the UTC calendar day or month, or the key's whole life."""

    DAY = "day", _("Day (UTC)")
    MONTH = "month", _("Month (UTC)")
    TOTAL = "total", _("Total")


class KeyLimits(models.Model):
    """The optional limits shared by a key and its account type's defaults (accounts/limits.py combines them).

    Blank means "no limit". The allow-lists are JSON lists; an empty one allows everything.
    """

    rate_limit_per_minute = models.PositiveIntegerField(
        _("requests per minute"), null=True, blank=True, help_text=_("Generation requests per minute.")
    )
    max_concurrent = models.PositiveIntegerField(
        _("concurrent generations"), null=True, blank=True, help_text=_("Queued plus running generations at once.")
    )
    spend_limit = models.PositiveIntegerField(
        _("spend limit"), null=True, blank=True, help_text=_("Credits charged minus refunded, per spend period.")
    )
    spend_period = models.CharField(
        _("spend period"), max_length=8, choices=SpendPeriod.choices, default=SpendPeriod.MONTH
    )
    allowed_models = models.JSONField(
        _("allowed models"), default=list, blank=True, help_text=_("Model ids; empty allows every model.")
    )

    class Meta:
        abstract = True


class AccountTypeLimits(KeyLimits):
    """Staff-set defaults for every key of one account type (FREE, PRO, ...): a key can only tighten them."""

    account_type = models.CharField(max_length=20, choices=AccountType.choices, unique=True)

    class Meta:
        verbose_name = "account type limits"
        verbose_name_plural = "account type limits"

    def __str__(self) -> str:
        return f"Limits of {self.account_type} keys"


class ApiKey(KeyLimits):
    """A bearer key. Only its HMAC digest is stored; the raw key is shown once.

    A test key (`gih_test_…`) works like a live one but generates on the local renderer for free:
    it never reaches a paid provider and never moves credits (generations.services).
    """

    class Mode(models.TextChoices):
        LIVE = "live", "Live"
        TEST = "test", "Test"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, default="Default")
    prefix = models.CharField(
        max_length=16, unique=True, help_text="Non-secret start of the key, for lookup and display."
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    mode = models.CharField(max_length=4, choices=Mode.choices, default=Mode.LIVE, editable=False)
    allowed_ips = models.JSONField(
        _("allowed IPs"), default=list, blank=True, help_text=_("IP addresses or CIDR ranges; empty allows any.")
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.display_prefix} ({self.name})"

    @property
    def display_prefix(self) -> str:
        from accounts.keys import marker

        return f"{marker(self.mode)}{self.prefix}…"

    @property
    def livemode(self) -> bool:
        return self.mode != self.Mode.TEST

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def user_is_active(self) -> bool:
        return self.user.is_active

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @property
    def status(self) -> str:
        if self.is_revoked:
            return "revoked"
        if self.is_expired():
            return "expired"
        return "active"
