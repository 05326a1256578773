from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts import services
from accounts.models import User


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


class Command(BaseCommand):
    help = (
        "Issue an API key for a user. Prints only the raw key on stdout, so that "
        "`KEY=$(python manage.py create_api_key EMAIL)` works; it is never shown again."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        parser.add_argument("--name", default="Default", help="A label for the key.")
        parser.add_argument("--expires-at", help="ISO 8601 expiry, e.g. 2030-01-31T00:00:00Z (default: never).")

    def handle(self, *args, email: str, name: str, expires_at: str | None, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with the email address {email}.")
        issued = services.api_key_create(
            user=user, name=name, expires_at=parse_expiry(expires_at) if expires_at else None
        )
        key = issued.api_key
        # Everything but the key goes to stderr: stdout is meant to be captured by a shell.
        expiry = f"expires {key.expires_at.isoformat()}" if key.expires_at else "never expires"
        self.stderr.write(f"Created API key {key.display_prefix} ({key.name}) for {user.email}; {expiry}.")
        if not user.is_active:
            self.stderr.write(f"Warning: {user.email} is inactive, so this key will be refused until reactivated.")
        self.stdout.write(issued.raw_key)
