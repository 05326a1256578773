"""GET /api/v1/generations: its query parameters, checked, as one ListQuery for selectors.generations_page."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time

from django.utils.dateparse import parse_date, parse_datetime

from generations.models import Generation
from gih.errors import InvalidRequest

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True)
class ListQuery:
    limit: int = DEFAULT_LIMIT
    starting_after: str = ""  # a generation id: the page holds older generations than it
    ending_before: str = ""  # a generation id: the page holds newer generations than it
    status: str = ""
    created_after: datetime | None = None
    created_before: datetime | None = None


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit: must be an integer from 1 to {MAX_LIMIT}.", param="limit")
    return limit


def _instant(name: str, value: str | None) -> datetime | None:
    """Unix seconds, an ISO 8601 date-time (UTC unless it says otherwise) or a date (its UTC midnight)."""
    if not value:
        return None
    instant = None
    try:
        if value.lstrip("-").isdigit():
            instant = datetime.fromtimestamp(int(value), tz=UTC)
        elif (day := parse_date(value)) is not None:
            instant = datetime.combine(day, time.min, tzinfo=UTC)
        elif (parsed := parse_datetime(value)) is not None:
            instant = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        instant = None
    if instant is None:
        raise InvalidRequest(f"{name}: expected Unix seconds or an ISO 8601 date or date-time.", param=name)
    return instant


def list_query_parse(params: Mapping[str, str]) -> ListQuery:
    """The checked query; InvalidRequest (400, naming the parameter) for a bad value."""
    status = params.get("status", "")
    if status and status not in Generation.Status.values:
        raise InvalidRequest(f"status: must be one of {', '.join(Generation.Status.values)}.", param="status")
    starting_after, ending_before = params.get("starting_after", ""), params.get("ending_before", "")
    if starting_after and ending_before:
        raise InvalidRequest("starting_after and ending_before cannot be combined.", param="ending_before")
    return ListQuery(
        limit=_limit(params.get("limit")),
        starting_after=starting_after,
        ending_before=ending_before,
        status=status,
        created_after=_instant("created_after", params.get("created_after")),
        created_before=_instant("created_before", params.get("created_before")),
    )
