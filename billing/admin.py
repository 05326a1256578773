"""Staff views of credits. Every movement goes through billing.services with actor=request.user.

Batches and ledger rows are read-only here, for everyone: the only way to move
credits is the Grant and Adjust tools on an account's page, which call the services.
Each tool needs its own permission (billing.grant_credits, billing.adjust_credits):
"change credit account" only sets the account type.
"""

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from billing.models import CreditAccount, CreditBatch, LedgerEntry
from billing.selectors import balance_get
from billing.services import (
    MAX_CREDITS_PER_MOVEMENT,
    InsufficientCredits,
    credit_account_set_type,
    credits_adjust,
    credits_grant,
)
from gih.admin_site import human_datetime

# Sources the grant form does not offer: adjustments come only from the Adjust tool (which
# requires a reason); the others only from their own flows (billing.services).
STAFF_ONLY_SOURCES = frozenset(
    {
        CreditBatch.Source.ADJUSTMENT,
        CreditBatch.Source.SIGNUP_BONUS,
        CreditBatch.Source.REDEMPTION,
        CreditBatch.Source.REFUND,
    }
)


class GrantCreditsForm(forms.Form):
    amount = forms.IntegerField(min_value=1, max_value=MAX_CREDITS_PER_MOVEMENT, help_text="Credits in the new batch.")
    expires_at = forms.SplitDateTimeField(
        required=False, widget=AdminSplitDateTime, help_text="UTC. Leave empty for credits that never expire."
    )
    source = forms.ChoiceField(
        choices=[choice for choice in CreditBatch.Source.choices if choice[0] not in STAFF_ONLY_SOURCES],
        initial=CreditBatch.Source.GRANT,
    )
    note = forms.CharField(max_length=500, required=False)


class AdjustCreditsForm(forms.Form):
    amount = forms.IntegerField(
        min_value=-MAX_CREDITS_PER_MOVEMENT,
        max_value=MAX_CREDITS_PER_MOVEMENT,
        help_text="Signed. Positive adds a new batch; negative takes from usable batches, soonest-expiring first."
    )
    reason = forms.CharField(max_length=500, help_text="Required; kept on the ledger rows.")

    def clean_amount(self) -> int:
        if self.cleaned_data["amount"] == 0:
            raise forms.ValidationError("An adjustment must not be zero.")
        return self.cleaned_data["amount"]


def _grant(user, data: dict, actor) -> str:
    batch = credits_grant(
        user=user, amount=data["amount"], expires_at=data["expires_at"], source=data["source"], actor=actor,
        note=data["note"],
    )
    expiry = f"expiring {human_datetime(batch.expires_at)}" if batch.expires_at else "never expiring"
    return f"Granted {batch.amount} credits to {user.email} (batch {batch.pk}, {expiry})."


def _adjust(user, data: dict, actor) -> str:
    credits_adjust(user=user, amount=data["amount"], actor=actor, note=data["reason"])
    return f"Adjusted {user.email} by {data['amount']:+d} credits: {data['reason']}"


@admin.register(CreditAccount)
class CreditAccountAdmin(admin.ModelAdmin):
    change_form_template = "admin/billing/creditaccount/change_form.html"
    list_display = ("user_email", "account_type", "balance", "created_at")
    list_editable = ("account_type",)
    list_filter = ("account_type",)
    list_select_related = ("user",)
    search_fields = ("user__email",)
    fields = ("user_email", "account_type", "balance", "next_expiration", "history", "created_at")
    readonly_fields = ("user_email", "balance", "next_expiration", "history", "created_at")

    @admin.display(description="user", ordering="user__email")
    def user_email(self, account: CreditAccount) -> str:
        return account.user.email

    @admin.display(description="credits")
    def balance(self, account: CreditAccount) -> int:
        return balance_get(user=account.user)["credits"]

    @admin.display(description="next expiration")
    def next_expiration(self, account: CreditAccount) -> str:
        upcoming = balance_get(user=account.user)["next_expiration"]
        return f"{upcoming['credits']} credits at {human_datetime(upcoming['expires_at'])}" if upcoming else "-"

    @admin.display(description="history")
    def history(self, account: CreditAccount) -> str:
        return format_html(
            '<a href="{}?account__exact={}">Batches</a> · <a href="{}?account__exact={}">Ledger</a>',
            reverse("admin:billing_creditbatch_changelist"), account.pk,
            reverse("admin:billing_ledgerentry_changelist"), account.pk,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # accounts come with their users

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: CreditAccount, form, change: bool) -> None:
        # Only the account type is editable, and it changes through its service.
        credit_account_set_type(user=obj.user, account_type=obj.account_type)

    def get_urls(self):
        # Before the default URLs: their "<path:object_id>/" pattern would swallow these.
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/grant/", view(self.grant_view), name="billing_creditaccount_grant"),
            path("<path:object_id>/adjust/", view(self.adjust_view), name="billing_creditaccount_adjust"),
            *super().get_urls(),
        ]

    def grant_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._credit_tool_view(
            request, object_id, form_class=GrantCreditsForm, title="Grant credits", perform=_grant,
            permission="billing.grant_credits",
        )

    def adjust_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._credit_tool_view(
            request, object_id, form_class=AdjustCreditsForm, title="Adjust credits", perform=_adjust,
            permission="billing.adjust_credits",
        )

    def _credit_tool_view(
        self,
        request: HttpRequest,
        object_id: str,
        *,
        form_class: type[forms.Form],
        title: str,
        perform: Callable[..., str],
        permission: str,
    ) -> HttpResponse:
        if not request.user.has_perm(permission):
            raise PermissionDenied
        account = self.get_object(request, unquote(object_id))
        if account is None:
            raise Http404("No such credit account.")
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                message = perform(account.user, form.cleaned_data, request.user)
            except InsufficientCredits as exc:
                form.add_error("amount", str(exc))
            except ValueError as exc:
                form.add_error(None, str(exc))
            else:
                self.log_change(request, account, message)
                self.message_user(request, message, messages.SUCCESS)
                return redirect(reverse("admin:billing_creditaccount_change", args=[quote(account.pk)]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"{title}: {account.user.email}",
            "submit_label": title,
            "opts": self.opts,
            "original": account,
            "form": form,
            "media": self.media + form.media,
            "balance": balance_get(user=account.user),
            "next_expiration": self.next_expiration(account),
        }
        return TemplateResponse(request, "admin/billing/credit_tool.html", context)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Listed and searchable by staff; nobody, superusers included, adds, changes or deletes rows here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(CreditBatch)
class CreditBatchAdmin(ReadOnlyAdmin):
    list_display = ("id", "user_email", "amount", "remaining", "source", "expires_at", "granted_by", "created_at")
    list_filter = ("source", ("expires_at", admin.EmptyFieldListFilter), "created_at")
    list_select_related = ("account__user", "granted_by")
    search_fields = ("account__user__email", "note")
    date_hierarchy = "created_at"

    @admin.display(description="user", ordering="account__user__email")
    def user_email(self, batch: CreditBatch) -> str:
        return batch.account.user.email


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "user_email", "kind", "amount", "batch_id", "generation_id", "actor", "note")
    list_filter = ("kind", "created_at")
    list_select_related = ("account__user", "actor")
    search_fields = ("account__user__email", "generation__id", "note")
    date_hierarchy = "created_at"

    @admin.display(description="user", ordering="account__user__email")
    def user_email(self, entry: LedgerEntry) -> str:
        return entry.account.user.email


from billing import admin_money  # noqa: E402, F401  (registers the codes, packages and orders admins)
