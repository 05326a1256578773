"""The dashboard's picture of the last 30 days, drawn on the server as SVG (no JavaScript, no CDN).

The numbers come from two grouped queries (ledger amounts per day and kind, generations per
day and status); this module only turns them into per-day totals and bar geometry. Days are
UTC days, like every date the account area shows.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

from billing.models import LedgerEntry
from billing.selectors import ledger_daily_totals
from generations.models import Generation
from generations.selectors import generation_daily_counts

USAGE_DAYS = 30
STATUSES = [
    Generation.Status.SUCCEEDED,
    Generation.Status.FAILED,
    Generation.Status.CANCELED,
    Generation.Status.RUNNING,
    Generation.Status.QUEUED,
]

# Drawing area, in SVG user units (the SVG scales to its container's width).
WIDTH, HEIGHT = 640, 190
LEFT, RIGHT, TOP, BOTTOM = 40, 6, 10, 22
TICK_EVERY_DAYS = 5


@dataclass(frozen=True)
class UsageDay:
    day: date
    spent: int
    refunded: int
    generations: dict[str, int]

    @property
    def generation_total(self) -> int:
        return sum(self.generations.values())


@dataclass(frozen=True)
class Bar:
    """One rectangle; coordinates are preformatted strings so no locale turns 2.5 into 2,5."""

    x: str
    y: str
    width: str
    height: str
    series: str
    value: int
    day: date


@dataclass
class Chart:
    bars: list[Bar] = field(default_factory=list)
    gridlines: list[tuple[str, int]] = field(default_factory=list)  # (y, value)
    ticks: list[tuple[str, date]] = field(default_factory=list)  # (x, day)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    baseline: str = f"{HEIGHT - BOTTOM}"


def usage_days(*, user, today: date | None = None, days: int = USAGE_DAYS, livemode: bool = True) -> list[UsageDay]:
    """Credits spent and refunded, and generations by status, for each of the last `days` UTC days.

    Test keys' generations (`livemode=False`) are counted apart; they move no credits.
    """
    today = today or timezone.now().astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time.min, tzinfo=UTC)
    ledger = ledger_daily_totals(user=user, since=since) if livemode else {}
    counts = generation_daily_counts(user=user, since=since, livemode=livemode)
    result = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        result.append(
            UsageDay(
                day=day,
                spent=-ledger.get((day, LedgerEntry.Kind.CHARGE), 0),
                refunded=ledger.get((day, LedgerEntry.Kind.REFUND), 0),
                generations={status: counts.get((day, status), 0) for status in STATUSES},
            )
        )
    return result


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least `value` (and at least 1)."""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude >= value:
                return step * magnitude
        magnitude *= 10


def _frame(days: list[UsageDay], top_value: int) -> tuple[Chart, float, float]:
    chart = Chart()
    scale = (HEIGHT - BOTTOM - TOP) / top_value
    slot = (WIDTH - LEFT - RIGHT) / len(days)
    for value in sorted({0, top_value // 2 if top_value % 2 == 0 else 0, top_value}):
        chart.gridlines.append((f"{HEIGHT - BOTTOM - value * scale:.1f}", value))
    for index, usage in enumerate(days):
        if (len(days) - 1 - index) % TICK_EVERY_DAYS == 0:
            chart.ticks.append((f"{LEFT + (index + 0.5) * slot:.1f}", usage.day))
    return chart, scale, slot


def _bar(*, x: float, width: float, bottom: float, value: int, scale: float, series: str, day: date) -> Bar:
    height = value * scale
    return Bar(f"{x:.1f}", f"{bottom - height:.1f}", f"{width:.1f}", f"{height:.1f}", series, value, day)


def credits_chart(days: list[UsageDay]) -> Chart:
    """Side-by-side bars per day: credits spent and credits refunded."""
    chart, scale, slot = _frame(days, _nice_ceiling(max([day.spent for day in days] + [day.refunded for day in days])))
    bottom = HEIGHT - BOTTOM
    width = slot * 0.4
    for index, usage in enumerate(days):
        x = LEFT + index * slot + slot * 0.1
        for offset, series, value in ((0, "spent", usage.spent), (width, "refunded", usage.refunded)):
            if value:
                chart.bars.append(
                    _bar(x=x + offset, width=width, bottom=bottom, value=value, scale=scale, series=series,
                         day=usage.day)
                )
    return chart


def generations_chart(days: list[UsageDay]) -> Chart:
    """One bar per day, stacked by status (succeeded at the bottom)."""
    chart, scale, slot = _frame(days, _nice_ceiling(max(day.generation_total for day in days)))
    width = slot * 0.7
    for index, usage in enumerate(days):
        x = LEFT + index * slot + slot * 0.15
        bottom = float(HEIGHT - BOTTOM)
        for status in STATUSES:
            value = usage.generations[status]
            if value:
                chart.bars.append(
                    _bar(x=x, width=width, bottom=bottom, value=value, scale=scale, series=status, day=usage.day)
                )
                bottom -= value * scale
    return chart


def usage_summary(*, user, today: date | None = None, livemode: bool = True) -> dict:
    """Everything the dashboard's usage card shows, for live or test data."""
    days = usage_days(user=user, today=today, livemode=livemode)
    return {
        "days": days,
        "active_days": [day for day in days if day.spent or day.refunded or day.generation_total],
        "spent": sum(day.spent for day in days),
        "refunded": sum(day.refunded for day in days),
        "generations": sum(day.generation_total for day in days),
        "credits_chart": credits_chart(days),
        "generations_chart": generations_chart(days),
        "statuses": [(status.value, status.label) for status in STATUSES],
    }
