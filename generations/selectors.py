"""Reads for models and generations."""

from datetime import UTC, date, datetime

from django.db.models import Count, F, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from generations.listing import ListQuery
from generations.models import Generation, ImageModel, ModelPrice
from gih.errors import InvalidRequest


def enabled_models() -> list[ImageModel]:
    """Enabled models with their prices and their provider price (joined: no extra query)."""
    return list(
        ImageModel.objects.filter(enabled=True)
        .select_related("provider_price")
        .prefetch_related(Prefetch("prices", queryset=ModelPrice.objects.order_by("quality", "max_pixels")))
    )


def generation_get_for_user(*, user, generation_id: str, livemode: bool | None = None) -> Generation | None:
    """The user's own generation, or None: another user's id is indistinguishable from an unknown one.

    With `livemode`, only a generation of that mode: a test key does not see live data, nor a live key test data.
    """
    generations = Generation.objects.filter(pk=generation_id, user=user)
    if livemode is not None:
        generations = generations.filter(livemode=livemode)
    return generations.select_related("model").prefetch_related("images").first()


def generations_for_user(
    *,
    user,
    status: str = "",
    model_id: str = "",
    created_from: datetime | None = None,
    created_before: datetime | None = None,
    livemode: bool | None = None,
) -> QuerySet[Generation]:
    """The user's generations, newest first, with their model and images, optionally filtered.

    `livemode` keeps live (True) or test-key (False) generations only; None keeps both.
    """
    generations = Generation.objects.filter(user=user)
    if livemode is not None:
        generations = generations.filter(livemode=livemode)
    if status:
        generations = generations.filter(status=status)
    if model_id:
        generations = generations.filter(model_id=model_id)
    if created_from is not None:
        generations = generations.filter(created_at__gte=created_from)
    if created_before is not None:
        generations = generations.filter(created_at__lt=created_before)
    return generations.select_related("model").prefetch_related("images").order_by("-created_at", "-id")


def generations_page(*, user, query: ListQuery, livemode: bool = True) -> tuple[list[Generation], bool]:
    """One page of the user's generations, newest first, and whether more lie beyond it in its direction.

    Only the calling key's mode: a test key lists test generations, a live key live ones.

    Ids are random, so a cursor orders by (created_at, id): the cursor's row is looked up
    (by primary key) and the page is the next `limit` rows past it on the
    (user, created_at, id) index. Generations created meanwhile are newer than any
    starting_after cursor, so paging back through a list never repeats or skips one.
    """
    cursor_id = query.starting_after or query.ending_before
    generations = Generation.objects.filter(user=user, livemode=livemode)
    if query.status:
        generations = generations.filter(status=query.status)
    if query.created_after is not None:
        generations = generations.filter(created_at__gt=query.created_after)
    if query.created_before is not None:
        generations = generations.filter(created_at__lt=query.created_before)
    order = ("-created_at", "-id")
    if cursor_id:
        param = "starting_after" if query.starting_after else "ending_before"
        cursor = (
            Generation.objects.filter(user=user, livemode=livemode, pk=cursor_id)
            .values_list("created_at", flat=True)
            .first()
        )
        if cursor is None:
            raise InvalidRequest(f"{param}: no generation {cursor_id!r} for this account.", param=param)
        # (created_at, id) past the cursor's; the plain created_at bound gives the index scan its start.
        if query.starting_after:  # older
            generations = generations.filter(Q(created_at__lt=cursor) | Q(id__lt=cursor_id), created_at__lte=cursor)
        else:  # newer, nearest first (turned back to newest first below)
            generations = generations.filter(Q(created_at__gt=cursor) | Q(id__gt=cursor_id), created_at__gte=cursor)
            order = ("created_at", "id")
    rows = list(generations.select_related("model").prefetch_related("images").order_by(*order)[: query.limit + 1])
    has_more = len(rows) > query.limit
    rows = rows[: query.limit]
    if query.ending_before:
        rows.reverse()
    return rows, has_more


def generation_daily_counts(*, user, since: datetime, livemode: bool = True) -> dict[tuple[date, str], int]:
    """How many live (or test) generations the user created per (UTC day, status) from `since`: one grouped query."""
    rows = (
        Generation.objects.filter(user=user, created_at__gte=since, livemode=livemode)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "status")
        .annotate(count=Count("id"))
        .order_by()
    )
    return {(row["day"], row["status"]): row["count"] for row in rows}


IN_FLIGHT = (Generation.Status.QUEUED, Generation.Status.RUNNING)


def key_in_flight(*, api_key_id: int) -> int:
    """How many of this key's generations are queued or running (its concurrency)."""
    return Generation.objects.filter(api_key_id=api_key_id, status__in=IN_FLIGHT).count()


def key_spent(*, api_key_id: int, since: datetime | None) -> int:
    """Credits this key's generations created from `since` (None: ever) cost: charged minus refunded."""
    generations = Generation.objects.filter(api_key_id=api_key_id)
    if since is not None:
        generations = generations.filter(created_at__gte=since)
    total = generations.aggregate(total=Sum(F("credits_charged") - F("credits_refunded")))["total"]
    return total or 0


def generations_unfinished_counts() -> dict[str, int]:
    """How many generations are queued and running now (two index counts on status), for /metrics."""
    Status = Generation.Status
    counts = dict(
        Generation.objects.filter(status__in=[Status.QUEUED, Status.RUNNING])
        .values_list("status")
        .annotate(count=Count("pk"))
        .order_by()
    )
    return {"queued": counts.get(Status.QUEUED, 0), "running": counts.get(Status.RUNNING, 0)}
