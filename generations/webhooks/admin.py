"""Staff see endpoints and every delivery with its attempts, read-only (secrets never shown)."""

from django.contrib import admin

from generations.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "url", "enabled", "created_at")
    list_filter = ("enabled",)
    search_fields = ("id", "url", "user__email")
    fields = ("id", "user", "url", "events", "description", "enabled", "disabled_reason", "created_at")


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ("number", "started_at", "duration_ms", "response_code", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "event_type", "endpoint", "status", "attempts", "last_response_code", "created_at")
    list_filter = ("status", "event_type")
    search_fields = ("id", "event_id", "generation__id", "endpoint__url", "endpoint__user__email")
    fields = (
        "id",
        "endpoint",
        "event_id",
        "event_type",
        "generation",
        "status",
        "attempts",
        "last_response_code",
        "last_error",
        "last_attempt_at",
        "next_attempt_at",
        "created_at",
        "body",
    )
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    list_select_related = ("endpoint",)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
