from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts import services
from accounts.limits import KEY_LIMIT_FIELDS
from accounts.models import ApiKey, SpendPeriod, User
from generations.models import ImageModel


def parse_expiry(value: str) -> datetime:
    """An ISO 8601 date or date-time in the future; without an offset it is read in TIME_ZONE."""
    try:
        expires_at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--expires-at: {value!r} is not an ISO 8601 date-time, e.g. 2030-01-31T00:00:00Z.") from exc
    if timezone.is_naive(expires_at):
        expires_at = timezone.make_aware(expires_at)
    if expires_at <= timezone.now():
        raise CommandError(f"--expires-at: {value!r} is not in the future.")
    return expires_at


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class Command(BaseCommand):
    help = (
        "Issue an API key for a user. Prints only the raw key on stdout, so that "
        "`KEY=$(python manage.py create_api_key EMAIL)` works; it is never shown again."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        parser.add_argument("--name", default="Default", help="A label for the key.")
        parser.add_argument("--expires-at", help="ISO 8601 expiry, e.g. 2030-01-31T00:00:00Z (default: never).")
        limits = parser.add_argument_group("limits (all optional; the account type's defaults still cap them)")
        limits.add_argument("--rate-limit-per-minute", type=int, metavar="N", help="Generation requests per minute.")
        limits.add_argument("--max-concurrent", type=int, metavar="N", help="Generations queued or running at once.")
        limits.add_argument("--spend-limit", type=int, metavar="N", help="Credits (charged minus refunded) per period.")
        limits.add_argument(
            "--spend-period", choices=SpendPeriod.values, default=SpendPeriod.MONTH, help="UTC calendar period."
        )
        limits.add_argument("--models", type=_comma_list, default=[], help="Allowed model ids, comma-separated.")
        limits.add_argument("--ips", type=_comma_list, default=[], help="Allowed IPs or CIDRs, comma-separated.")
        parser.add_argument(
            "--test",
            action="store_true",
            help="A test key (gih_test_…): generations on the local renderer, free, never touching credits.",
        )

    def handle(self, *args, email: str, name: str, expires_at: str | None, test: bool = False, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with the email address {email}.")
        limits = {
            "rate_limit_per_minute": options["rate_limit_per_minute"],
            "max_concurrent": options["max_concurrent"],
            "spend_limit": options["spend_limit"],
            "spend_period": options["spend_period"],
            "allowed_models": options["models"],
            "allowed_ips": options["ips"],
        }
        unknown = set(limits["allowed_models"]) - set(ImageModel.objects.values_list("id", flat=True))
        if unknown:
            raise CommandError(f"--models: no model {', '.join(sorted(unknown))} in the catalogue.")
        try:
            issued = services.api_key_create(
                user=user,
                name=name,
                expires_at=parse_expiry(expires_at) if expires_at else None,
                limits=limits,
                mode=ApiKey.Mode.TEST if test else ApiKey.Mode.LIVE,
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        key = issued.api_key
        # Everything but the key goes to stderr: stdout is meant to be captured by a shell.
        expiry = f"expires {key.expires_at.isoformat()}" if key.expires_at else "never expires"
        kind = "test key" if test else "API key"
        self.stderr.write(f"Created {kind} {key.display_prefix} ({key.name}) for {user.email}; {expiry}.")
        shown = [
            f"{field}={getattr(key, field)}" for field in KEY_LIMIT_FIELDS if getattr(key, field) not in (None, [])
        ]
        if shown and key.spend_limit is None:
            shown.remove(f"spend_period={key.spend_period}")
        if shown:
            self.stderr.write(f"Limits: {', '.join(shown)}.")
        if not user.is_active:
            self.stderr.write(f"Warning: {user.email} is inactive, so this key will be refused until reactivated.")
        self.stdout.write(issued.raw_key)
