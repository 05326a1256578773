"""CSV export of the credits ledger: the rows the credits page shows, with the same filters."""

import csv
from collections.abc import Iterator
from datetime import UTC

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.filters import LedgerFilterForm
from billing.selectors import ledger_entries_for_user

# Column names are stable and English: the file is read by spreadsheets and scripts, whatever the page's language.
LEDGER_COLUMNS = [
    "created_at", "kind", "amount", "batch_id", "batch_source", "batch_expires_at", "generation_id", "note"
]
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file-like object whose write() returns the line, so csv.writer can feed a streaming response."""

    def write(self, value: str) -> str:
        return value


def _iso(value) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else ""


def _text(value: str) -> str:
    """Free text a spreadsheet must not run as a formula (CSV injection)."""
    return f"'{value}" if value.startswith(FORMULA_PREFIXES) else value


def ledger_csv_rows(entries) -> Iterator[list]:
    yield LEDGER_COLUMNS
    for entry in entries.iterator(chunk_size=500):
        yield [
            _iso(entry.created_at),
            entry.kind,
            entry.amount,
            entry.batch_id,
            entry.batch.source,
            _iso(entry.batch.expires_at),
            entry.generation_id or "",
            _text(entry.note),
        ]


@login_required
@require_GET
def credits_export(request: HttpRequest) -> HttpResponse:
    form = LedgerFilterForm(request.GET)
    if not form.is_valid():
        errors = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in form.errors.items())
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    entries = ledger_entries_for_user(user=request.user, **form.selector_filters())
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in ledger_csv_rows(entries)), content_type="text/csv; charset=utf-8"
    )
    filename = f"credits-{timezone.now().date().isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
