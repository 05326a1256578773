"""Reads for models and generations."""

from datetime import UTC, date, datetime

from django.db.models import Count, Prefetch, QuerySet
from django.db.models.functions import TruncDate

from generations.models import Generation, ImageModel, ModelPrice


def enabled_models() -> list[ImageModel]:
    return list(
        ImageModel.objects.filter(enabled=True).prefetch_related(
            Prefetch("prices", queryset=ModelPrice.objects.order_by("quality", "max_pixels"))
        )
    )


def generation_get_for_user(*, user, generation_id: str) -> Generation | None:
    """The user's own generation, or None: another user's id is indistinguishable from an unknown one."""
    return (
        Generation.objects.select_related("model")
        .prefetch_related("images")
        .filter(pk=generation_id, user=user)
        .first()
    )


def generations_for_user(
    *,
    user,
    status: str = "",
    model_id: str = "",
    created_from: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[Generation]:
    """The user's generations, newest first, with their model and images, optionally filtered."""
    generations = Generation.objects.filter(user=user)
    if status:
        generations = generations.filter(status=status)
    if model_id:
        generations = generations.filter(model_id=model_id)
    if created_from is not None:
        generations = generations.filter(created_at__gte=created_from)
    if created_before is not None:
        generations = generations.filter(created_at__lt=created_before)
    return (
        generations.select_related("model")
        .prefetch_related("images")
        .order_by("-created_at", "-id")
    )


def generation_daily_counts(*, user, since: datetime) -> dict[tuple[date, str], int]:
    """How many generations the user created per (UTC day, status) from `since`: one grouped query."""
    rows = (
        Generation.objects.filter(user=user, created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "status")
        .annotate(count=Count("id"))
        .order_by()
    )
    return {(row["day"], row["status"]): row["count"] for row in rows}
