"""Grant credits to a user from the command line: `manage.py grant_credits EMAIL AMOUNT --actor STAFF_EMAIL`."""

import argparse
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from billing.selectors import balance_get
from billing.services import MAX_CREDITS_PER_MOVEMENT, credits_grant


def positive_int(value: str) -> int:
    # ArgumentTypeError becomes a usage error: exit 2 from the shell, CommandError from call_command.
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return number


def credit_amount(value: str) -> int:
    number = positive_int(value)
    if number > MAX_CREDITS_PER_MOVEMENT:
        raise argparse.ArgumentTypeError(f"{value!r} is more than {MAX_CREDITS_PER_MOVEMENT:,} credits")
    return number


def expiry_days(value: str) -> int:
    number = positive_int(value)
    if number > 36500:  # beyond that, a batch that never expires says it better
        raise argparse.ArgumentTypeError(f"{value!r} days is more than 100 years; omit --expires-in-days instead")
    return number


class Command(BaseCommand):
    help = "Grant a new batch of credits to the user with this email address, on behalf of a staff member."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument(
            "amount", type=credit_amount, help=f"Credits to grant (a whole number, 1 to {MAX_CREDITS_PER_MOVEMENT:,})."
        )
        parser.add_argument(
            "--actor",
            required=True,
            metavar="STAFF_EMAIL",
            help="The staff member granting the credits (recorded on the batch and its ledger row).",
        )
        parser.add_argument(
            "--expires-in-days", type=expiry_days, default=None, help="The batch expires this many days from now."
        )
        parser.add_argument("--note", default="", help="Why the credits were granted (kept on the batch and ledger).")

    def handle(
        self, *args, email: str, amount: int, actor: str, expires_in_days: int | None, note: str, **options
    ) -> None:
        users = get_user_model().objects
        user = users.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with email {email!r}.")
        staff = users.filter(email__iexact=actor.strip(), is_staff=True, is_active=True).first()
        if staff is None:
            raise CommandError(f"--actor {actor!r} is not an active staff user.")
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        try:
            batch = credits_grant(
                user=user, amount=amount, expires_at=expires_at, actor=staff, note=note or "manage.py grant_credits"
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        expiry = f"expires {batch.expires_at.isoformat()}" if batch.expires_at else "never expires"
        balance = balance_get(user=user)["credits"]
        self.stdout.write(
            f"Granted {amount} credits to {user.email} by {staff.email} (batch {batch.pk}, {expiry}). "
            f"Balance is now {balance} credits."
        )
