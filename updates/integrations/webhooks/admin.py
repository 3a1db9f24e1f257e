"""Webhook endpoints in the admin: an operator registers and watches their own; dispatch staff
see all. The secret is shown once, in the message after saving a new endpoint or rotating."""

from django import forms
from django.contrib import admin, messages

from core import events
from core.admin import ReadOnlyAdminMixin
from core.limits import max_length
from inventory.access import stations_for
from updates.integrations.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from updates.integrations.webhooks.security import RefusedTarget, check_target
from updates.integrations.webhooks.selectors import deliveries_visible_to, endpoints_visible_to
from updates.integrations.webhooks.services import (
    endpoint_create,
    endpoint_delete,
    endpoint_rotate_secret,
    endpoint_update,
    redeliver,
    send_test_event,
)


class DeliveryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = WebhookDelivery
    fields = ("message_id", "event_type", "state", "attempts", "next_attempt_at", "created_at")
    readonly_fields = fields
    ordering = ("-id",)
    max_num = 0
    show_change_link = True


class EndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=max_length(WebhookEndpoint, "url"), assume_scheme="https")
    event_types = forms.MultipleChoiceField(
        choices=lambda: [(event_type, event_type) for event_type in events.public_types()],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every type.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "event_types", "stations", "is_active")

    def clean_url(self):
        try:
            check_target(self.cleaned_data["url"])
        except RefusedTarget as exc:
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
        return endpoints_visible_to(request.user)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "stations":
            kwargs["queryset"] = stations_for(request.user)  # only stations one operates
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        # Through the services, as the API: the target guard, the sealed secret, re-enabling.
        data = {name: form.cleaned_data[name] for name in EndpointForm.Meta.fields}
        if change:
            endpoint_update(endpoint=obj, **data)
            return
        endpoint, secret = endpoint_create(owner=request.user, **data)
        obj.pk, obj.owner, obj._state.adding = endpoint.pk, endpoint.owner, False
        self.message_user(
            request, f"The endpoint's signing secret, shown this once: {secret}", messages.WARNING
        )

    def save_related(self, request, form, formsets, change):
        # The services set the stations (not form.save_m2m); the read-only inline saves nothing.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def get_deleted_objects(self, objs, request):
        # An endpoint's deliveries and their attempts are its own records, which operators may
        # only view: deleting the endpoint takes them, as DELETE /api/webhooks/{id}/ does.
        deleted, counts, needed, protected = super().get_deleted_objects(objs, request)
        own = {str(m._meta.verbose_name) for m in (WebhookDelivery, WebhookAttempt)}
        return deleted, counts, needed - own, protected

    def delete_model(self, request, obj):
        # As the API deletes one: the endpoint locked first, so a delivery in flight to it
        # neither fails this deletion nor disturbs the sender (webhooks.services).
        endpoint_delete(endpoint=obj)

    def delete_queryset(self, request, queryset):
        for endpoint in queryset:
            endpoint_delete(endpoint=endpoint)

    @admin.action(description="Send a test event")
    def send_test_event(self, request, queryset):
        for endpoint in queryset:
            send_test_event(endpoint=endpoint)
        self.message_user(request, f"Test events queued for {queryset.count()} endpoint(s).")

    @admin.action(description="Rotate the signing secret (the old one signs for a while)")
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            secret = endpoint_rotate_secret(endpoint=endpoint)
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
        return deliveries_visible_to(request.user)

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Deliver again")
    def redeliver(self, request, queryset):
        for delivery in queryset:
            redeliver(delivery=delivery)
        self.message_user(request, f"{queryset.count()} deliveries queued again.")
