"""The staff admin's site: GPT Image Hub's name on every page, and readable times.

Installed through `gih.apps.AdminConfig` (in place of django.contrib.admin), so every
`admin.register` and `admin.site` use gets this site.
"""

from datetime import datetime

from django.contrib import admin
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format


class HubAdminSite(admin.AdminSite):
    site_header = "GPT Image Hub admin"
    site_title = "GPT Image Hub admin"
    index_title = "Operations"


def human_datetime(value: datetime | str | None) -> str:
    """'Dec 14, 2026, 09:30 UTC' for a datetime or an API timestamp string ('-' for none)."""
    if isinstance(value, str):
        value = parse_datetime(value.replace("Z", "+00:00"))
    if value is None:
        return "-"
    return f"{date_format(timezone.localtime(value), 'DATETIME_FORMAT')} UTC"
