from django.contrib import admin, messages

from . import services
from .models import WebhookDelivery, WebhookEndpoint


class DeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("event", "subject", "status", "attempts", "response_status_code", "created_at", "delivered_at")
    readonly_fields = fields
    ordering = ("-created_at",)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("url", "organisation", "events", "is_active", "created_at")
    list_filter = ("is_active", "organisation")
    search_fields = ("url", "description", "organisation__name", "organisation__slug")
    readonly_fields = ("created_at", "updated_at")
    inlines = [DeliveryInline]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("event", "subject", "endpoint", "status", "attempts", "response_status_code", "created_at")
    list_filter = ("status", "event", "endpoint__organisation")
    search_fields = ("subject", "endpoint__url", "uuid")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    actions = ["redeliver"]

    def has_add_permission(self, request):
        return False  # deliveries come from events, never by hand

    @admin.action(description="Deliver again (same body and signature)")
    def redeliver(self, request, queryset):
        for delivery in queryset:
            services.webhook_delivery_redeliver(delivery=delivery)
        messages.success(request, f"Queued {queryset.count()} delivery(ies) again.")
