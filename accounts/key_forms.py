"""The limits part of the API key forms (create and edit): accounts/limits.py says how they combine."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.limits import KEY_LIMIT_FIELDS, networks_clean
from accounts.models import SpendPeriod
from generations.models import ImageModel


class ApiKeyLimitsForm(forms.Form):
    """A key's own optional limits (create and edit). Blank is no limit; the account type's defaults still apply."""

    rate_limit_per_minute = forms.IntegerField(
        label=_("Requests per minute"),
        required=False,
        min_value=0,
        help_text=_("Generation requests; blank: no limit."),
    )
    max_concurrent = forms.IntegerField(
        label=_("Concurrent generations"),
        required=False,
        min_value=0,
        help_text=_("Queued plus running at once; blank: no limit."),
    )
    spend_limit = forms.IntegerField(
        label=_("Spend limit (credits)"),
        required=False,
        min_value=0,
        help_text=_("Credits charged minus refunded per period; blank: no limit."),
    )
    spend_period = forms.ChoiceField(
        label=_("Spend period"), choices=SpendPeriod.choices, initial=SpendPeriod.MONTH, required=False
    )
    allowed_models = forms.MultipleChoiceField(
        label=_("Allowed models"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every model."),
    )
    allowed_ips = forms.CharField(
        label=_("Allowed IPs"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "203.0.113.7, 2001:db8::/32"}),
        help_text=_("IP addresses or CIDR ranges (IPv4 or IPv6), separated by commas or lines; blank: any."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        known = [(model.id, model.display_name) for model in ImageModel.objects.filter(enabled=True)]
        # A model the key allowed before it was disabled stays visible, so saving the form does not drop it.
        kept = [(model, model) for model in self.initial.get("allowed_models", []) if model not in dict(known)]
        self.fields["allowed_models"].choices = known + kept

    def clean_spend_period(self) -> str:
        return self.cleaned_data["spend_period"] or SpendPeriod.MONTH

    def clean_allowed_ips(self) -> list[str]:
        values = self.cleaned_data["allowed_ips"].replace(",", "\n").split()
        try:
            return networks_clean(values)
        except ValueError:
            bad = next(value for value in values if not _is_network(value))
            raise ValidationError(
                _("“%(value)s” is not an IP address or CIDR range."), code="invalid", params={"value": bad}
            ) from None

    @property
    def limits(self) -> dict:
        return {name: self.cleaned_data[name] for name in KEY_LIMIT_FIELDS}


def _is_network(value: str) -> bool:
    try:
        networks_clean([value])
    except ValueError:
        return False
    return True


def api_key_limits_initial(api_key) -> dict:
    initial = {name: getattr(api_key, name) for name in KEY_LIMIT_FIELDS}
    initial["allowed_ips"] = "\n".join(api_key.allowed_ips)
    return initial
