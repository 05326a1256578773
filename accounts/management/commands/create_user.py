from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import IntegrityError

from accounts import services
from billing.models import AccountType


class Command(BaseCommand):
    help = "Create a user. Without --password the user has no usable password until one is set."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        parser.add_argument("--password", help="Initial password (omit to create the user without one).")
        parser.add_argument("--account-type", choices=AccountType.values, help="Credit account type (default FREE).")
        parser.add_argument(
            "--staff",
            action="store_true",
            help="Let the user sign in to the admin as support staff (the 'Support staff' group).",
        )

    def handle(self, *args, email: str, password: str | None, account_type: str | None, staff: bool, **options):
        try:
            validate_email(email)
        except ValidationError as exc:
            raise CommandError(f"{email!r} is not a valid email address.") from exc
        try:
            user = services.user_create(email=email, password=password, account_type=account_type, is_staff=staff)
        except IntegrityError as exc:
            # Emails are stored lower-cased, so this also catches a different spelling of the same address.
            raise CommandError(f"A user with the email address {email.lower()} already exists.") from exc
        details = ["staff, Support staff group" if staff else "customer", account_type or AccountType.FREE.value]
        if not user.has_usable_password():
            details.append("no password")
        self.stdout.write(f"Created user {user.email} ({', '.join(details)}).")
