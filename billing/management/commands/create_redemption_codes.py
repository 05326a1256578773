"""Make a batch of redemption codes: `manage.py create_redemption_codes --count N --credits C ...`.

Prints one code per line on stdout and nothing else there (pipe it to a file or a printer);
the codes are not stored and cannot be shown again. A summary goes to stderr.
"""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from billing.codes import MAX_CODES_PER_BATCH, CodeTerms, redemption_codes_create
from billing.management.commands.grant_credits import positive_int


class Command(BaseCommand):
    help = "Create redemption codes and print them, one per line. They are shown only this once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--count", type=positive_int, required=True, help=f"Codes to make (1-{MAX_CODES_PER_BATCH})."
        )
        parser.add_argument("--credits", type=positive_int, required=True, help="Credits each redemption grants.")
        parser.add_argument(
            "--credit-expiry-days", type=positive_int, default=None,
            help="Redeemed credits expire this many days after redemption (default: never).",
        )
        parser.add_argument(
            "--valid-days", type=positive_int, default=None,
            help="Codes can be redeemed for this many days (default: no end).",
        )
        parser.add_argument(
            "--max-uses", type=positive_int, default=1, help="Users who may redeem each code (default 1)."
        )
        parser.add_argument("--label", default="", help="A name for the batch (event, reseller, ...).")

    def handle(self, *args, count: int, credits: int, credit_expiry_days, valid_days, max_uses: int, label: str,
               **options) -> None:
        terms = CodeTerms(
            credits=credits,
            credit_expiry_days=credit_expiry_days,
            valid_until=timezone.now() + timedelta(days=valid_days) if valid_days else None,
            max_uses=max_uses,
            label=label[:100],
        )
        try:
            codes = redemption_codes_create(count=count, terms=terms)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write("\n".join(codes))
        self.stderr.write(f"Created {count} codes worth {credits} credits each (label {label!r}).")
