"""Staff views of users and API keys.

Key digests are never shown. A key made here goes through `api_key_create`, and its
raw value is shown once, in the response to the add form itself, like the account area
does: never redirected, so it is in no messages cookie, session, cache or database row.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import Count, Q, QuerySet
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from accounts import keys, services
from accounts.forms import AdminLoginForm
from accounts.limits import KEY_LIMIT_FIELDS, networks_clean
from accounts.models import AccountTypeLimits, ApiKey, SpendPeriod, User

# /admin/login/ counts attempts before checking passwords, like the account area's log-in.
admin.site.login_form = AdminLoginForm


class _LowercaseEmailMixin:
    def clean_email(self) -> str:
        # user_create stores addresses lower-cased; do the same so one inbox is one account.
        return User.objects.normalize_email(self.cleaned_data["email"]).lower()


class UserCreationAdminForm(_LowercaseEmailMixin, AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class UserChangeAdminForm(_LowercaseEmailMixin, UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    fields = readonly_fields = ("name", "display_prefix", "created_at", "last_used_at", "expires_at", "status")
    exclude = ("digest",)
    extra = 0
    can_delete = False  # keys are revoked (see the API key admin), not deleted
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),
    )
    list_display = ("email", "is_staff", "is_active", "date_joined", "key_count")
    list_filter = ("is_staff", "is_superuser", "is_active")
    search_fields = ("email",)
    ordering = ("email",)
    inlines = (ApiKeyInline,)

    def get_queryset(self, request) -> QuerySet[User]:
        return super().get_queryset(request).annotate(key_count=Count("api_keys"))

    def get_inlines(self, request, obj):
        return self.inlines if obj else ()

    @admin.display(description="API keys", ordering="key_count")
    def key_count(self, obj: User) -> int:
        return obj.key_count


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return (("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked"))

    def queryset(self, request, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        now = timezone.now()
        not_revoked = queryset.filter(revoked_at__isnull=True)
        if self.value() == "active":
            return not_revoked.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        if self.value() == "expired":
            return not_revoked.filter(expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


class LimitsAdminForm(forms.ModelForm):
    """Limits typed into the admin's JSON boxes: lists of model ids, canonical IP networks."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "spend_period" in self.fields:  # a form without it (older scripts, other fields only) keeps the default
            self.fields["spend_period"].required = False

    def clean_spend_period(self) -> str:
        return self.cleaned_data["spend_period"] or SpendPeriod.MONTH

    def clean_allowed_models(self) -> list[str]:
        value = self.cleaned_data["allowed_models"] or []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise forms.ValidationError('A list of model ids, e.g. ["gpt-image-2"], or [] for every model.')
        return services.api_key_limits_clean({"allowed_models": value})["allowed_models"]

    def clean_allowed_ips(self) -> list[str]:
        value = self.cleaned_data["allowed_ips"] or []
        if not isinstance(value, list):
            raise forms.ValidationError('A list of IPs or CIDRs, e.g. ["203.0.113.0/24", "2001:db8::/32"].')
        try:
            return networks_clean(value)
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None


@admin.register(AccountTypeLimits)
class AccountTypeLimitsAdmin(admin.ModelAdmin):
    """Default limits of every key of an account type; a key's own limits can only tighten them."""

    form = LimitsAdminForm
    list_display = ("account_type", "rate_limit_per_minute", "max_concurrent", "spend_limit", "spend_period")
    fields = ("account_type", *KEY_LIMIT_FIELDS[:-1])


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "display_prefix", "name", "mode", "user_email", "created_at", "last_used_at", "expires_at", "status",
    )
    list_filter = (StatusFilter, "mode", "created_at", "expires_at")
    list_select_related = ("user",)
    search_fields = ("prefix", "user__email")
    autocomplete_fields = ("user",)
    exclude = ("digest",)
    actions = ("revoke_selected",)
    form = LimitsAdminForm
    add_fields = ("user", "name", "expires_at", *KEY_LIMIT_FIELDS)
    change_fields = (
        "user", "name", "display_prefix", "mode", "status", "created_at", "last_used_at", "expires_at", "revoked_at",
        *KEY_LIMIT_FIELDS,
    )
    editable_fields = ("name", *KEY_LIMIT_FIELDS)

    def get_fields(self, request, obj=None):
        return self.change_fields if obj else self.add_fields

    def get_readonly_fields(self, request, obj=None):
        # Only the label and the limits can change; revocation goes through the action below.
        return tuple(field for field in self.change_fields if field not in self.editable_fields) if obj else ()

    def get_search_results(self, request, queryset, search_term):
        # Staff paste the display form, `gih_live_abcd1234…`; the column holds `abcd1234`.
        term = keys.strip_marker(search_term.strip()).rstrip("…")
        return super().get_search_results(request, queryset, term)

    @admin.display(description="key", ordering="prefix")
    def display_prefix(self, obj: ApiKey) -> str:
        return obj.display_prefix

    @admin.display(description="user", ordering="user__email")
    def user_email(self, obj: ApiKey) -> str:
        return obj.user.email

    def save_model(self, request, obj: ApiKey, form, change: bool) -> None:
        if change:
            # Write only what was edited, so a save cannot undo a revocation made meanwhile.
            obj.save(update_fields=form.changed_data)
            return
        limits = {name: getattr(obj, name) for name in KEY_LIMIT_FIELDS}
        issued = services.api_key_create(user=obj.user, name=obj.name, expires_at=obj.expires_at, limits=limits)
        # The admin goes on with `obj` (history entry, redirect), so make it the row just created.
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(issued.api_key, field.attname))
        obj._state.adding = False
        obj._state.db = issued.api_key._state.db
        obj._raw_key = issued.raw_key  # for response_add only; never saved

    def response_add(self, request, obj: ApiKey, post_url_continue=None):
        """The page that shows the new key once (instead of the usual redirect with a message)."""
        raw_key = getattr(obj, "_raw_key", None)
        if raw_key is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": "New API key",
            "opts": self.opts,
            "key": obj,
            "raw_key": raw_key,
        }
        response = TemplateResponse(request, "admin/accounts/apikey/created.html", context)
        add_never_cache_headers(response)
        return response

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_selected(self, request, queryset: QuerySet[ApiKey]) -> None:
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            services.api_key_revoke(api_key=api_key)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} API key(s).", messages.SUCCESS)
