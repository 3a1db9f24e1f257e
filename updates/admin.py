"""Webhook endpoints in the admin: an operator registers and watches their own; dispatch staff
see all. The secret is shown once, in the message after saving a new endpoint or rotating."""

from django import forms
from django.contrib import admin, messages

from inventory.access import acts_for_all_stations, stations_for
from tradenet.admin import ReadOnlyAdminMixin

from . import webhooks
from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class DeliveryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = WebhookDelivery
    fields = ("message_id", "event_type", "state", "attempts", "next_attempt_at", "created_at")
    readonly_fields = fields
    ordering = ("-id",)
    max_num = 0
    show_change_link = True


class EndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "event_types", "stations", "is_active")

    def clean_url(self):
        try:
            webhooks.check_target(self.cleaned_data["url"])
        except webhooks.RefusedTarget as exc:
            raise forms.ValidationError(str(exc)) from None
        return self.cleaned_data["url"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ("url", "owner", "is_active", "failing_since", "disabled_reason")
    list_filter = ("is_active",)
    readonly_fields = ("owner", "failing_since", "disabled_reason", "created_at")
    fields = ("url", "event_types", "stations", "is_active", *readonly_fields)
    filter_horizontal = ("stations",)
    inlines = [DeliveryInline]
    actions = ["send_test_event", "rotate_secret"]

    def get_queryset(self, request):
        endpoints = super().get_queryset(request).select_related("owner")
        if acts_for_all_stations(request.user):
            return endpoints
        return endpoints.filter(owner=request.user)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "stations":
            kwargs["queryset"] = stations_for(request.user)  # only stations one operates
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            if obj.is_active and obj.disabled_reason:
                webhooks.endpoint_enable(endpoint=obj)
            return
        secret = webhooks.new_secret()
        obj.owner, obj.secret_sealed = request.user, webhooks.seal(secret)
        super().save_model(request, obj, form, change)
        self.message_user(
            request, f"The endpoint's signing secret, shown this once: {secret}", messages.WARNING
        )

    @admin.action(description="Send a test event")
    def send_test_event(self, request, queryset):
        for endpoint in queryset:
            webhooks.send_test_event(endpoint=endpoint)
        self.message_user(request, f"Test events queued for {queryset.count()} endpoint(s).")

    @admin.action(description="Rotate the signing secret (the old one signs for a while)")
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            secret = webhooks.endpoint_rotate_secret(endpoint=endpoint)
            self.message_user(
                request,
                f"New secret for {endpoint.url}, shown this once: {secret}",
                messages.WARNING,
            )


class AttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = WebhookAttempt
    fields = ("attempted_at", "status_code", "duration_ms", "response_excerpt", "error")
    readonly_fields = fields


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("message_id", "event_type", "endpoint", "state", "attempts", "next_attempt_at")
    list_filter = ("state", "event_type")
    inlines = [AttemptInline]
    actions = ["redeliver"]

    def get_queryset(self, request):
        deliveries = super().get_queryset(request).select_related("endpoint")
        if acts_for_all_stations(request.user):
            return deliveries
        return deliveries.filter(endpoint__owner=request.user)

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Deliver again")
    def redeliver(self, request, queryset):
        for delivery in queryset:
            webhooks.redeliver(delivery=delivery)
        self.message_user(request, f"{queryset.count()} deliveries queued again.")
