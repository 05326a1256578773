"""Forms of the credits pages and the staff's code batches."""

from datetime import timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.codes import MAX_CODES_PER_BATCH, CodeTerms


class RedeemForm(forms.Form):
    code = forms.CharField(
        label=_("Redemption code"),
        max_length=64,
        widget=forms.TextInput(
            attrs={"placeholder": "GIH-XXXX-XXXX-XXXX-XXXX", "autocomplete": "off", "spellcheck": "false"}
        ),
    )


class CodeBatchForm(forms.Form):
    """What `create_redemption_codes` takes, for the admin."""

    count = forms.IntegerField(min_value=1, max_value=MAX_CODES_PER_BATCH, initial=10)
    credits = forms.IntegerField(min_value=1, help_text="Credits each redemption grants.")
    credit_expiry_days = forms.IntegerField(
        min_value=1, required=False, help_text="The credits expire this many days after redemption. Empty: never."
    )
    valid_days = forms.IntegerField(
        min_value=1, required=False, help_text="The codes can be redeemed for this many days. Empty: no end."
    )
    max_uses = forms.IntegerField(min_value=1, initial=1, help_text="Users who may redeem each code (once each).")
    label = forms.CharField(max_length=100, required=False, help_text="Names the batch, e.g. the event or reseller.")

    def terms(self) -> CodeTerms:
        data = self.cleaned_data
        valid_until = timezone.now() + timedelta(days=data["valid_days"]) if data["valid_days"] else None
        return CodeTerms(
            credits=data["credits"],
            credit_expiry_days=data["credit_expiry_days"],
            valid_until=valid_until,
            max_uses=data["max_uses"],
            label=data["label"],
        )
