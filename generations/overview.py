"""The admin overview: the whole hub's last 30 UTC days, as numbers and server-drawn SVG bars (no script, no CDN).

Two grouped queries (generations per day; ledger amounts per day and kind) give, per day:
generations and failures, credits sold (grants of paid Checkout batches), spent (charges)
and refunded, and the estimated provider cost next to the revenue of the credits kept.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from billing.models import CreditBatch, LedgerEntry
from generations.costs import credit_value_usd
from generations.models import Generation

OVERVIEW_DAYS = 30
WIDTH, HEIGHT = 720, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 6, 10, 22
TICK_EVERY_DAYS = 5


@dataclass
class OverviewDay:
    day: date
    generations: int = 0
    failures: int = 0
    credits_sold: int = 0
    credits_spent: int = 0
    credits_refunded: int = 0
    provider_cost_usd: Decimal = Decimal(0)
    revenue_usd: Decimal = Decimal(0)

    @property
    def margin_usd(self) -> Decimal:
        return self.revenue_usd - self.provider_cost_usd


def overview_days(*, today: date | None = None, days: int = OVERVIEW_DAYS) -> list[OverviewDay]:
    """Per UTC day, oldest first. Revenue is what was spent less what was refunded, at CREDIT_VALUE_USD.

    Live generations only: test keys' ones are free and never reach a provider.
    """
    today = today or timezone.now().astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time.min, tzinfo=UTC)
    result = {first + timedelta(days=offset): OverviewDay(first + timedelta(days=offset)) for offset in range(days)}
    generations = (
        Generation.objects.filter(created_at__gte=since, livemode=True)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day")
        .annotate(
            total=Count("id"),
            failed=Count("id", filter=Q(status=Generation.Status.FAILED)),
            cost=Sum("provider_cost_usd"),
        )
        .order_by()
    )
    for row in generations:
        if row["day"] in result:
            day = result[row["day"]]
            day.generations, day.failures, day.provider_cost_usd = row["total"], row["failed"], row["cost"] or 0
    sold = Q(kind=LedgerEntry.Kind.GRANT, batch__source=CreditBatch.Source.PURCHASE)
    ledger = (
        LedgerEntry.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day")
        .annotate(
            sold=Sum("amount", filter=sold),
            spent=Sum("amount", filter=Q(kind=LedgerEntry.Kind.CHARGE)),
            refunded=Sum("amount", filter=Q(kind=LedgerEntry.Kind.REFUND)),
        )
        .order_by()
    )
    value = credit_value_usd()
    for row in ledger:
        if row["day"] in result:
            day = result[row["day"]]
            day.credits_sold, day.credits_spent = row["sold"] or 0, -(row["spent"] or 0)
            day.credits_refunded = row["refunded"] or 0
            day.revenue_usd = (day.credits_spent - day.credits_refunded) * value
    return list(result.values())


@dataclass(frozen=True)
class Bar:
    """Coordinates are preformatted strings, so no locale turns 2.5 into 2,5."""

    x: str
    y: str
    width: str
    height: str
    series: str
    colour: str
    label: str
    day: date


@dataclass
class Chart:
    title: str
    legend: list[tuple[str, str]]  # (label, colour)
    bars: list[Bar] = field(default_factory=list)
    gridlines: list[tuple[str, str]] = field(default_factory=list)  # (y, label)
    ticks: list[tuple[str, date]] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    baseline: str = f"{HEIGHT - BOTTOM}"


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is at least `value` (1 for an empty chart)."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1) if value >= 1 else 0.001
    while True:
        for step in (1, 2, 5):
            if step * magnitude >= value:
                return step * magnitude
        magnitude *= 10


def bar_chart(
    title: str, days: list[date], series: list[tuple[str, str, list]], fmt=lambda value: f"{value:,}"
) -> Chart:
    """Side-by-side bars per day, one per series: (label, colour, values aligned with `days`)."""
    chart = Chart(title=title, legend=[(label, colour) for label, colour, _ in series])
    top = _nice_ceiling(float(max((value for _, _, values in series for value in values), default=0)))
    scale = (HEIGHT - BOTTOM - TOP) / top
    slot = (WIDTH - LEFT - RIGHT) / len(days)
    width = slot * 0.8 / len(series)
    bottom = HEIGHT - BOTTOM
    for value in (0, top / 2, top):
        chart.gridlines.append((f"{bottom - value * scale:.1f}", fmt(value if value % 1 else int(value))))
    for index, day in enumerate(days):
        if (len(days) - 1 - index) % TICK_EVERY_DAYS == 0:
            chart.ticks.append((f"{LEFT + (index + 0.5) * slot:.1f}", day))
        for position, (label, colour, values) in enumerate(series):
            value = values[index]
            if value:
                height = float(value) * scale
                x = LEFT + index * slot + slot * 0.1 + position * width
                chart.bars.append(
                    Bar(
                        f"{x:.1f}",
                        f"{bottom - height:.1f}",
                        f"{width:.1f}",
                        f"{height:.1f}",
                        label,
                        colour,
                        fmt(value),
                        day,
                    )
                )
    return chart


def _usd(value) -> str:
    return f"${value:,.2f}"


def overview_summary(*, today: date | None = None) -> dict:
    """Everything the admin overview page shows."""
    days = overview_days(today=today)
    dates = [day.day for day in days]
    return {
        "days": days,
        "active_days": [day for day in reversed(days) if day.generations or day.credits_sold or day.credits_spent],
        "credit_value_usd": credit_value_usd(),
        "totals": {
            name: sum(getattr(day, name) for day in days)
            for name in (
                "generations",
                "failures",
                "credits_sold",
                "credits_spent",
                "credits_refunded",
                "provider_cost_usd",
                "revenue_usd",
                "margin_usd",
            )
        },
        "charts": [
            bar_chart(
                "Generations",
                dates,
                [
                    ("generations", "#4f6bed", [day.generations for day in days]),
                    ("failures", "#d64545", [day.failures for day in days]),
                ],
            ),
            bar_chart(
                "Credits",
                dates,
                [
                    ("sold", "#2f9e44", [day.credits_sold for day in days]),
                    ("spent", "#4f6bed", [day.credits_spent for day in days]),
                    ("refunded", "#f08c00", [day.credits_refunded for day in days]),
                ],
            ),
            bar_chart(
                "USD",
                dates,
                [
                    ("provider cost", "#d64545", [day.provider_cost_usd for day in days]),
                    ("revenue of credits kept", "#2f9e44", [day.revenue_usd for day in days]),
                ],
                fmt=_usd,
            ),
        ],
    }
