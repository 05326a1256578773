"""Grant credits to a user from the command line: `manage.py grant_credits EMAIL AMOUNT`."""

import argparse
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from billing.selectors import balance_get
from billing.services import credits_grant


def positive_int(value: str) -> int:
    # ArgumentTypeError becomes a usage error: exit 2 from the shell, CommandError from call_command.
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return number


class Command(BaseCommand):
    help = "Grant a new batch of credits to the user with this email address."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("amount", type=positive_int, help="Credits to grant (a positive whole number).")
        parser.add_argument(
            "--expires-in-days", type=positive_int, default=None, help="The batch expires this many days from now."
        )
        parser.add_argument("--note", default="", help="Why the credits were granted (kept on the batch and ledger).")

    def handle(self, *args, email: str, amount: int, expires_in_days: int | None, note: str, **options) -> None:
        user = get_user_model().objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with email {email!r}.")
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        try:
            batch = credits_grant(
                user=user, amount=amount, expires_at=expires_at, note=note or "manage.py grant_credits"
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        expiry = f"expires {batch.expires_at.isoformat()}" if batch.expires_at else "never expires"
        balance = balance_get(user=user)["credits"]
        self.stdout.write(
            f"Granted {amount} credits to {user.email} (batch {batch.pk}, {expiry}). Balance is now {balance} credits."
        )
