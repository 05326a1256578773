from django import forms
from django.utils.translation import gettext_lazy as _

from generations.webhooks.models import EVENT_TYPES


class EndpointForm(forms.Form):
    url = forms.CharField(
        label=_("URL"), max_length=2000, widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks/gih"})
    )
    events = forms.MultipleChoiceField(
        label=_("Events"),
        choices=[(event, event) for event in EVENT_TYPES],
        initial=list(EVENT_TYPES),
        widget=forms.CheckboxSelectMultiple,
    )
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
