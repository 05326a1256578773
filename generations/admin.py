from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html

from generations.costs import margin_usd, revenue_usd
from generations.failures import FailureCode
from generations.models import GeneratedImage, Generation, ImageModel, ModelPrice, ProviderPrice
from generations.overview import overview_summary
from generations.transitions import generation_fail
from generations.webhooks import admin as webhooks_admin  # noqa: F401 (registers the webhook models)

# The overview shows money across all accounts: viewing generations is not enough.
OVERVIEW_PERMISSIONS = ("generations.view_generation", "billing.view_ledgerentry")


class ModelPriceInline(admin.TabularInline):
    model = ModelPrice
    extra = 1
    fields = ("quality", "max_pixels", "credits_per_image")


class ProviderPriceInline(admin.StackedInline):
    """What the provider charges per million tokens: the base of each generation's cost estimate."""

    model = ProviderPrice
    extra = 1
    max_num = 1
    can_delete = False
    fields = ("input_text_usd_per_million", "input_image_usd_per_million", "output_usd_per_million", "updated_at")
    readonly_fields = ("updated_at",)


@admin.register(ProviderPrice)
class ProviderPriceAdmin(admin.ModelAdmin):
    list_display = (
        "model",
        "input_text_usd_per_million",
        "input_image_usd_per_million",
        "output_usd_per_million",
        "updated_at",
    )
    list_editable = ("input_text_usd_per_million", "input_image_usd_per_million", "output_usd_per_million")


@admin.register(ImageModel)
class ImageModelAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "display_name",
        "provider",
        "provider_model",
        "enabled",
        "reference_image_limit",
        "sort_order",
    )
    list_editable = ("enabled", "sort_order")
    list_filter = ("provider", "enabled")
    search_fields = ("id", "display_name", "provider_model")
    inlines = [ModelPriceInline, ProviderPriceInline]
    fieldsets = (
        (None, {"fields": ("id", "display_name", "provider", "provider_model", "enabled", "sort_order")}),
        (
            "Request options",
            {
                "fields": (
                    "default_aspect_ratio",
                    "default_quality",
                    "aspect_ratios",
                    "tier_qualities",
                    "openai_qualities",
                    "sizes",
                    "reference_image_limit",
                )
            },
        ),
        ("Size limits", {"fields": ("size_multiple", "max_edge", "min_pixels", "max_pixels", "max_aspect_ratio")}),
    )

    def get_readonly_fields(self, request, obj=None):
        return ("id",) if obj else ()


def _thumbnail(image: GeneratedImage, size: int) -> str:
    if image.expired_at:
        return "expired"
    return format_html(
        '<a href="{}" target="_blank" rel="noopener"><img src="{}" alt="{}" loading="lazy" '
        'style="max-width:{}px;max-height:{}px;border-radius:4px"></a>',
        image.file.url,
        image.file.url,
        image.id,
        size,
        size,
    )


def _usd(amount) -> str:
    if amount is None:
        return "-"
    return f"{'-' if amount < 0 else ''}${abs(amount):,.4f}"


class GeneratedImageInline(admin.TabularInline):
    model = GeneratedImage
    extra = 0
    can_delete = False
    fields = ("preview", "id", "width", "height", "content_type", "byte_size", "created_at", "expired_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Image")
    def preview(self, image: GeneratedImage) -> str:
        return _thumbnail(image, 160)


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    """Generations are records of money spent: read-only, except the fail-and-refund action."""

    list_display = (
        "id",
        "user",
        "model",
        "status",
        "n",
        "size",
        "quality",
        "credits_charged",
        "credits_refunded",
        "provider_cost",
        "margin",
        "duration",
        "error_code",
        "created_at",
        "thumbnail",
    )
    list_filter = ("status", "livemode", "model", "face", "is_async", "error_code", "created_at")
    search_fields = ("id", "user__email", "prompt", "idempotency_key", "request_id")
    list_select_related = ("user", "model")
    date_hierarchy = "created_at"
    inlines = [GeneratedImageInline]
    actions = ["fail_and_refund"]
    readonly_fields = [field.name for field in Generation._meta.fields] + ["duration", "revenue", "margin"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return request.method in ("GET", "HEAD") and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("images")

    def get_urls(self):
        overview = path("overview/", self.admin_site.admin_view(self.overview_view), name="generations_overview")
        return [overview, *super().get_urls()]

    def overview_view(self, request: HttpRequest) -> HttpResponse:
        """The hub's last 30 days: generations, failures, credits sold/spent/refunded, provider cost (SVG)."""
        if not request.user.has_perms(OVERVIEW_PERMISSIONS):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "title": "Overview", **overview_summary()}
        return TemplateResponse(request, "admin/generations/overview.html", context)

    @admin.display(description="Duration")
    def duration(self, generation: Generation) -> str:
        if not (generation.started_at and generation.finished_at):
            return "-"
        return f"{(generation.finished_at - generation.started_at).total_seconds():.1f} s"

    @admin.display(description="Provider cost (USD)", ordering="provider_cost_usd")
    def provider_cost(self, generation: Generation) -> str:
        return _usd(generation.provider_cost_usd)

    @admin.display(description="Revenue (USD)")
    def revenue(self, generation: Generation) -> str:
        """The credits it kept at CREDIT_VALUE_USD."""
        return _usd(revenue_usd(generation))

    @admin.display(description="Margin (USD)")
    def margin(self, generation: Generation) -> str:
        return _usd(margin_usd(generation))

    @admin.display(description="Preview")
    def thumbnail(self, generation: Generation) -> str:
        first = next(iter(generation.images.all()), None)
        return _thumbnail(first, 48) if first else "-"

    def has_fail_permission(self, request) -> bool:
        """The action moves money: it needs generations.fail_generation, not just the right to look."""
        return request.user.has_perm("generations.fail_generation")

    @admin.action(description="Fail and refund selected unfinished generations", permissions=["fail"])
    def fail_and_refund(self, request, queryset):
        failed = 0
        for generation_id in queryset.exclude(status__in=Generation.TERMINAL).values_list("pk", flat=True):
            generation = generation_fail(
                generation_id=generation_id,
                error_code=FailureCode.STAFF,
                error_message=f"Failed by staff ({request.user.email}).",
                actor=request.user,
            )
            failed += generation.error_code == FailureCode.STAFF  # else a worker finished it first
        skipped = queryset.count() - failed
        self.message_user(
            request,
            f"Failed and refunded {failed} generation(s); {skipped} already finished, left alone.",
            messages.SUCCESS if failed else messages.WARNING,
        )
