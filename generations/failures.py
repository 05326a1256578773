"""Why a generation failed: one code per cause, and what clients are told about it.

The code is stored on the generation (`error_code`); the raw provider text stays in
`error_message` for staff and is never echoed to clients. The admin, the reaper and
the API compare these members, never free strings. The messages are English in the
API and marked for translation, so the account area shows them translated.
"""

from django.db import models
from django.utils.translation import gettext_noop as _


class FailureCode(models.TextChoices):
    MODERATION_BLOCKED = "moderation_blocked", _("The request was rejected by the content policy.")
    # Content-policy refusals stored before moderation_blocked existed.
    PROVIDER_REJECTED = "provider_rejected", _("The provider refused the request (content policy).")
    PROVIDER_TIMEOUT = "provider_timeout", _("The provider did not answer in time.")
    PROVIDER_RATE_LIMITED = "provider_rate_limited", _("The provider is overloaded; please retry later.")
    PROVIDER_UNAVAILABLE = "provider_unavailable", _("The provider failed; please retry later.")
    PROVIDER_UNREACHABLE = "provider_unreachable", _("The provider could not be reached; please retry later.")
    PROVIDER_AUTH = "provider_auth", _("The hub could not authenticate with the provider; please retry later.")
    PROVIDER_BAD_REQUEST = "provider_bad_request", _("The provider could not process the request.")
    PROVIDER_UNKNOWN = "provider_unknown", _("The model's provider is not configured.")
    INVALID_OUTPUT = "invalid_output", _("The provider returned no usable image.")
    STORAGE_FAILED = "storage_failed", _("The images could not be stored.")
    TIMEOUT = "timeout", _("The generation did not finish in time.")
    BROKER_UNAVAILABLE = "broker_unavailable", _("The job queue is unavailable; please retry later.")
    WORKER_LOST = "worker_lost", _("The worker running the generation stopped; please retry.")
    STAFF = "staff_failed", _("The generation was stopped by support staff.")
    INTERNAL_ERROR = "internal_error", _("Image generation failed.")


DEFAULT_PUBLIC_FAILURE = _("Image generation failed.")

# Failures the same request cannot escape by being sent again (the OpenAI face says so
# with `x-should-retry: false`, so the SDKs do not retry them).
FINAL_FAILURES = frozenset(
    {
        FailureCode.MODERATION_BLOCKED,
        FailureCode.PROVIDER_REJECTED,
        FailureCode.PROVIDER_BAD_REQUEST,
        FailureCode.PROVIDER_AUTH,
        FailureCode.PROVIDER_UNKNOWN,
        FailureCode.STAFF,
    }
)


def public_failure_reason(error_code: str) -> str:
    """The client-facing sentence for a stored error code (unknown codes get a generic one)."""
    try:
        return FailureCode(error_code).label
    except ValueError:
        return DEFAULT_PUBLIC_FAILURE


def is_retryable(error_code: str) -> bool:
    """Whether sending the same request again may succeed."""
    return error_code not in FINAL_FAILURES
