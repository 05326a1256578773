"""Staff views of money coming in: redemption codes, credit packages, Checkout orders.

Imported by billing/admin.py. Codes are made only through the batch form (which shows the raw
codes once, with a CSV download, and never stores them) and changed only by the revoke action;
orders are read-only apart from clearing the review flag.
"""

import base64
import csv
import io

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache

from billing.codes import redemption_codes_create, redemption_codes_revoke
from billing.forms import CodeBatchForm
from billing.models import CheckoutOrder, CreditPackage, Redemption, RedemptionCode
from billing.services import orders_mark_reviewed


class RedemptionInline(admin.TabularInline):
    model = Redemption
    fields = ("user_email", "created_at", "batch")
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description="redeemed by")
    def user_email(self, redemption: Redemption) -> str:
        return redemption.account.user.email

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def _csv_data_uri(codes: list[str], terms_row: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["code", "credits", "credit_expiry_days", "valid_until", "max_uses", "label"])
    for code in codes:
        writer.writerow([code, *terms_row])
    return "data:text/csv;base64," + base64.b64encode(buffer.getvalue().encode()).decode()


@admin.register(RedemptionCode)
class RedemptionCodeAdmin(admin.ModelAdmin):
    list_display = ("prefix", "label", "credits", "uses_display", "credit_expiry_days", "valid_until", "status",
                    "created_by", "created_at")
    list_filter = ("label", ("revoked_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("prefix", "label", "redemptions__account__user__email")
    list_select_related = ("created_by",)
    readonly_fields = ("prefix", "credits", "credit_expiry_days", "valid_until", "max_uses", "uses", "label",
                       "created_by", "created_at", "revoked_at")
    fields = readonly_fields
    inlines = [RedemptionInline]
    actions = ["revoke"]
    date_hierarchy = "created_at"

    @admin.display(description="uses")
    def uses_display(self, code: RedemptionCode) -> str:
        return f"{code.uses} / {code.max_uses}"

    @admin.action(description="Revoke the selected codes", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset) -> None:
        revoked = redemption_codes_revoke(codes=queryset)
        self.message_user(request, f"Revoked {revoked} code(s). Credits already redeemed stay with their users.")

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # redemptions point at codes; revoke instead

    def save_model(self, request: HttpRequest, obj: RedemptionCode, form, change: bool) -> None:
        """Nothing on the page is editable; a full-row save could write back a stale `uses` count."""

    @method_decorator(never_cache)
    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        """A batch of codes instead of one row: the raw codes appear in this response only."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CodeBatchForm(request.POST or None)
        codes: list[str] = []
        csv_uri = ""
        if request.method == "POST" and form.is_valid():
            terms = form.terms()
            try:
                codes = redemption_codes_create(count=form.cleaned_data["count"], terms=terms, created_by=request.user)
            except ValueError as exc:
                form.add_error(None, str(exc))
            else:
                valid_until = terms.valid_until.isoformat() if terms.valid_until else ""
                csv_uri = _csv_data_uri(
                    codes, [str(terms.credits), str(terms.credit_expiry_days or ""), valid_until,
                            str(terms.max_uses), terms.label],
                )
                message = f"Created {len(codes)} redemption codes worth {terms.credits} credits ({terms.label!r})."
                messages.success(request, message + " Copy or download them now: they are not shown again.")
        context = {
            **self.admin_site.each_context(request),
            "title": "Create redemption codes",
            "opts": self.opts,
            "form": form,
            "codes": codes,
            "csv_uri": csv_uri,
            "csv_name": f"redemption-codes-{timezone.now():%Y%m%d-%H%M%S}.csv",
        }
        return TemplateResponse(request, "admin/billing/redemptioncode/create_batch.html", context)


@admin.register(CreditPackage)
class CreditPackageAdmin(admin.ModelAdmin):
    list_display = ("name", "credits", "price", "credit_expiry_days", "account_type", "active", "sort_order")
    list_editable = ("active", "sort_order")
    list_filter = ("active",)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return obj is None or not obj.orders.exists()  # sold packages are kept; deactivate them


@admin.register(CheckoutOrder)
class CheckoutOrderAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "user_email", "package", "credits", "price", "status", "needs_review",
                    "credits_reversed", "paid_at", "refunded_at")
    list_filter = ("status", "needs_review", "created_at")
    search_fields = ("account__user__email", "stripe_session_id", "stripe_payment_intent")
    list_select_related = ("account__user", "package")
    readonly_fields = [field.name for field in CheckoutOrder._meta.fields]
    actions = ["mark_reviewed"]
    date_hierarchy = "created_at"

    @admin.display(description="user", ordering="account__user__email")
    def user_email(self, order: CheckoutOrder) -> str:
        return order.account.user.email

    @admin.action(description="Mark the selected orders as reviewed", permissions=["change"])
    def mark_reviewed(self, request: HttpRequest, queryset) -> None:
        count = orders_mark_reviewed(orders=queryset)
        self.message_user(request, f"{count} order(s) marked as reviewed.")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: CheckoutOrder, form, change: bool) -> None:
        """Read-only: a full-row save could undo a webhook's status change made meanwhile."""
