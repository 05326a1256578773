"""Forms of the account area: sign-up, throttled log-in, API keys and the playground."""

import math
from datetime import UTC, datetime
from datetime import time as clock_time

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.key_forms import ApiKeyLimitsForm
from accounts.login_throttle import login_attempt
from accounts.models import ApiKey, User
from accounts.selectors import user_email_taken
from generations.models import ImageModel

# --- Sign-up and log-in -------------------------------------------------------

EMAIL_ATTRS = {"autocomplete": "email", "autofocus": True}


class SignupForm(forms.Form):
    email = forms.EmailField(label=_("Email address"), max_length=254, widget=forms.EmailInput(attrs=EMAIL_ATTRS))
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label=_("Password again"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if user_email_taken(email=email):
            raise ValidationError(_("An account with this email address already exists. Log in instead?"), code="taken")
        return email

    def clean(self) -> dict:
        cleaned = super().clean()
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", ValidationError(_("The two passwords differ."), code="password_mismatch"))
        elif password1:
            try:
                # An unsaved user, so the similarity validator can compare against the email address.
                password_validation.validate_password(password1, user=User(email=cleaned.get("email", "")))
            except ValidationError as error:
                self.add_error("password1", error)
        return cleaned


def throttle_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many failed log-in attempts. Try again in %(minutes)d minute.",
        "Too many failed log-in attempts. Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


class ThrottledLoginMixin:
    """For Django's authentication forms: count the attempt (accounts.login_throttle), then check the password.

    While throttled the password is not even checked, so the right one is refused too until the window closes.
    """

    def clean_username(self) -> str:
        # Addresses are stored lower-cased (UserManager), so any spelling of one logs in.
        return self.cleaned_data["username"].strip().lower()

    def clean(self) -> dict:
        email, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if not (email and password and self.request):
            return super().clean()
        attempt = login_attempt(request=self.request, email=email)
        if attempt.refused:
            raise ValidationError(throttle_message(attempt.retry_after), code="throttled")
        cleaned = super().clean()  # a wrong password raises here and the attempt stays counted
        attempt.succeeded()
        return cleaned

    @property
    def is_throttled(self) -> bool:
        return self.has_error(NON_FIELD_ERRORS, code="throttled")


class LoginForm(ThrottledLoginMixin, AuthenticationForm):
    username = forms.EmailField(label=_("Email address"), max_length=254, widget=forms.EmailInput(attrs=EMAIL_ATTRS))
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("The email address or password is wrong."),
    }


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    """The admin's log-in (admin.site.login_form), under the same throttle as the account area's."""


# --- API keys -------------------------------------------------------------------


class ApiKeyCreateForm(ApiKeyLimitsForm):
    field_order = ("name", "expires_on")

    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. Production server")}),
    )
    expires_on = forms.DateField(
        label=_("Expiry date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Optional. The key stops working at the end of this day (UTC)."),
    )
    # Which submit button was pressed: "Create key" (live) or "Create test key".
    mode = forms.ChoiceField(choices=ApiKey.Mode.choices, required=False, widget=forms.HiddenInput)

    def clean_mode(self) -> str:
        return self.cleaned_data["mode"] or ApiKey.Mode.LIVE

    def clean_expires_on(self):
        expires_on = self.cleaned_data["expires_on"]
        if expires_on is not None and expires_on < timezone.now().astimezone(UTC).date():
            raise ValidationError(_("The expiry date must be today or later."), code="past")
        return expires_on

    @property
    def expires_at(self) -> datetime | None:
        expires_on = self.cleaned_data.get("expires_on")
        if expires_on is None:
            return None
        return datetime.combine(expires_on, clock_time(23, 59, 59), tzinfo=UTC)


# --- Playground -------------------------------------------------------------------


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Any number of uploads; their content is checked by the generation service."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None) -> list:
        single_clean = super().clean
        if isinstance(data, list | tuple):
            return [single_clean(item, initial) for item in data]
        return [single_clean(data, initial)] if data else []


def _unique(values) -> list[str]:
    return list(dict.fromkeys(values))


class PlaygroundForm(forms.Form):
    """The fields of an API generation request; the service validates their combination and prices it."""

    model = forms.ChoiceField(label=_("Model"))
    prompt = forms.CharField(
        label=_("Prompt"),
        max_length=settings.MAX_PROMPT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": _("A cinematic product photo with studio lighting")}),
    )
    aspect_ratio = forms.ChoiceField(
        label=_("Aspect ratio"), required=False, help_text=_("Use with a resolution tier (1K, 2K, 4K).")
    )
    size = forms.CharField(
        label=_("Size"),
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. 1024x1024"), "list": "size-options"}),
        help_text=_("Or an exact size (WIDTHxHEIGHT or auto), with auto/low/medium/high."),
    )
    quality = forms.ChoiceField(label=_("Quality"), required=False)
    n = forms.IntegerField(label=_("Number of images"), min_value=1, max_value=4, initial=1)
    reference_images = MultipleFileField(
        label=_("Reference images"),
        required=False,
        help_text=format_lazy(
            _("Optional. PNG, JPEG or WebP, up to {megabytes} MB each."),
            megabytes=settings.MAX_REFERENCE_IMAGE_BYTES // 2**20,
        ),
    )
    run_async = forms.BooleanField(
        label=_("Run in the background"),
        required=False,
        help_text=_("Queue it and follow its progress on the next page."),
    )
    # One per rendered form: a double submit replays the first generation instead of paying twice.
    idempotency_key = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, models: list[ImageModel], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [(model.id, model.display_name) for model in models]
        self.fields["aspect_ratio"].choices = [
            ("", _("Model default")),
            *((ratio, ratio) for ratio in _unique(ratio for model in models for ratio in model.aspect_ratios)),
        ]
        tiers = _unique(quality for model in models for quality in model.tier_qualities)
        openai = _unique(quality for model in models for quality in model.openai_qualities)
        self.fields["quality"].choices = [
            ("", _("Model default")),
            (_("Resolution tier (with aspect ratio)"), [(quality, quality) for quality in tiers]),
            (_("Rendering quality (with size)"), [(quality, quality) for quality in openai]),
        ]
        self.size_options = _unique(size for model in models for size in model.sizes)

    def request_data(self) -> dict:
        """The request body the API would receive."""
        cleaned = self.cleaned_data
        data = {
            "model": cleaned["model"],
            "prompt": cleaned["prompt"],
            "n": cleaned["n"],
            "async": cleaned["run_async"],
        }
        for name in ("aspect_ratio", "size", "quality"):
            if cleaned.get(name):
                data[name] = cleaned[name].strip()
        return data
