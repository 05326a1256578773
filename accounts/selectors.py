"""Reads of users' API keys for the account area."""

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import ApiKey, User


def api_keys_for_user(*, user) -> QuerySet[ApiKey]:
    """The user's keys, newest first (revoked and expired ones included)."""
    return ApiKey.objects.filter(user=user).order_by("-created_at", "-id")


def api_key_get_for_user(*, user, key_id: int) -> ApiKey | None:
    """The user's own key, or None: another user's id is indistinguishable from an unknown one."""
    return ApiKey.objects.filter(pk=key_id, user=user).first()


def api_key_latest_usable(*, user) -> ApiKey | None:
    """The newest key that still authenticates, to show its prefix in examples."""
    return (
        api_keys_for_user(user=user)
        .filter(revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .first()
    )


def user_email_taken(*, email: str) -> bool:
    return User.objects.filter(email__iexact=email.strip()).exists()
