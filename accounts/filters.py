"""Filter forms of the credits and generations pages (GET parameters, shared by the CSV export)."""

from datetime import UTC, datetime, time, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from billing.models import LedgerEntry
from generations.models import Generation

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
TEST_MODE = "test"  # ?mode=test: the account pages show test keys' generations instead of live ones


def livemode_shown(request) -> bool:
    """Whether the page shows live data (the default) or test data (`?mode=test`), kept apart."""
    return request.GET.get("mode") != TEST_MODE


class DateRangeForm(forms.Form):
    """An inclusive range of UTC days; either end may be left open."""

    date_from = forms.DateField(label=_("From"), required=False, widget=DATE_WIDGET)
    date_to = forms.DateField(label=_("To"), required=False, widget=DATE_WIDGET)

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            raise ValidationError(_("The start date must be on or before the end date."), code="range")
        return cleaned

    def selector_filters(self) -> dict:
        """Keyword arguments for the selectors: [start of date_from, start of the day after date_to)."""
        if not self.is_valid():
            return {}
        start, end = self.cleaned_data.get("date_from"), self.cleaned_data.get("date_to")
        filters = {}
        if start:
            filters["created_from"] = datetime.combine(start, time.min, tzinfo=UTC)
        if end:
            filters["created_before"] = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
        return filters

    def query_string(self) -> str:
        """The filter part of the URL (request.GET without `page`), for pagination and export links."""
        params = self.data.copy()
        params.pop("page", None)
        return params.urlencode()

    @property
    def is_filtered(self) -> bool:
        return any(self.data.get(name) for name in self.fields)


class LedgerFilterForm(DateRangeForm):
    kind = forms.ChoiceField(label=_("Kind"), required=False)
    field_order = ["kind", "date_from", "date_to"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", _("All kinds")), *LedgerEntry.Kind.choices]

    def selector_filters(self) -> dict:
        filters = super().selector_filters()
        if self.is_valid():
            filters["kind"] = self.cleaned_data["kind"]
        return filters


class GenerationFilterForm(DateRangeForm):
    status = forms.ChoiceField(label=_("Status"), required=False)
    model = forms.ChoiceField(label=_("Model"), required=False)
    # The live/test toggle's choice, kept when filtering; not a filter of its own (is_filtered).
    mode = forms.CharField(required=False, widget=forms.HiddenInput)
    field_order = ["status", "model", "date_from", "date_to"]

    def __init__(self, *args, models: list, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", _("All statuses")), *Generation.Status.choices]
        self.fields["model"].choices = [("", _("All models")), *((model.id, model.display_name) for model in models)]

    def selector_filters(self) -> dict:
        filters = super().selector_filters()
        if self.is_valid():
            filters["status"] = self.cleaned_data["status"]
            filters["model_id"] = self.cleaned_data["model"]
        filters["livemode"] = self.livemode
        return filters

    @property
    def livemode(self) -> bool:
        return self.data.get("mode") != TEST_MODE

    @property
    def is_filtered(self) -> bool:
        return any(self.data.get(name) for name in self.fields if name != "mode")
