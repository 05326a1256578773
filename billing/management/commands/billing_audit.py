"""Check the credit tables' invariants; exits non-zero when anything is off (for cron and CI)."""

from django.core.management.base import BaseCommand, CommandError

from billing.selectors import billing_audit


class Command(BaseCommand):
    help = "Check that every batch matches its ledger rows and every generation its charges and refunds."

    def handle(self, *args, **options) -> None:
        problems = billing_audit()
        for problem in problems:
            where = f"account {problem.account_id}: " if problem.account_id is not None else ""
            self.stderr.write(f"{where}{problem.message}")
        if problems:
            raise CommandError(f"Billing audit failed: {len(problems)} problem(s).")
        self.stdout.write("Billing audit OK: every batch matches its ledger rows and every generation its charges.")
