"""Reads for models and generations."""

from django.db.models import Prefetch, QuerySet

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


def generations_for_user(*, user) -> QuerySet[Generation]:
    """The user's generations, newest first, with their model and images."""
    return (
        Generation.objects.filter(user=user)
        .select_related("model")
        .prefetch_related("images")
        .order_by("-created_at", "-id")
    )
