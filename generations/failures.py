"""Why a generation failed: one code per cause, and what clients are told about it.

The code is stored on the generation (`error_code`); the raw provider text stays in
`error_message` for staff and is never echoed to clients. The admin, the reaper and
the API compare these members, never free strings. The messages are English in the
API and marked for translation, so the account area shows them translated.
"""

from django.db import models
from django.utils.translation import gettext_noop


class FailureCode(models.TextChoices):
    PROVIDER_REJECTED = "provider_rejected", gettext_noop("The provider refused the request (content policy).")
    PROVIDER_TIMEOUT = "provider_timeout", gettext_noop("The provider did not answer in time.")
    PROVIDER_RATE_LIMITED = "provider_rate_limited", gettext_noop("The provider is overloaded; please retry later.")
    PROVIDER_UNAVAILABLE = "provider_unavailable", gettext_noop("The provider failed; please retry later.")
    PROVIDER_UNREACHABLE = "provider_unreachable", gettext_noop("The provider could not be reached; please retry later.")
    PROVIDER_AUTH = "provider_auth", gettext_noop("The hub could not authenticate with the provider; please retry later.")
    PROVIDER_BAD_REQUEST = "provider_bad_request", gettext_noop("The provider could not process the request.")
    PROVIDER_UNKNOWN = "provider_unknown", gettext_noop("The model's provider is not configured.")
    INVALID_OUTPUT = "invalid_output", gettext_noop("The provider returned no usable image.")
    STORAGE_FAILED = "storage_failed", gettext_noop("The images could not be stored.")
    TIMEOUT = "timeout", gettext_noop("The generation did not finish in time.")
    BROKER_UNAVAILABLE = "broker_unavailable", gettext_noop("The job queue is unavailable; please retry later.")
    WORKER_LOST = "worker_lost", gettext_noop("The worker running the generation stopped; please retry.")
    STAFF = "staff_failed", gettext_noop("The generation was stopped by support staff.")
    INTERNAL_ERROR = "internal_error", gettext_noop("Image generation failed.")


DEFAULT_PUBLIC_FAILURE = gettext_noop("Image generation failed.")


def public_failure_reason(error_code: str) -> str:
    """The client-facing sentence for a stored error code (unknown codes get a generic one)."""
    try:
        return FailureCode(error_code).label
    except ValueError:
        return DEFAULT_PUBLIC_FAILURE
