from django import forms
from django.contrib import admin, messages

from core.admin import DomainErrorMessagesMixin, ReadOnlyAdminMixin, ReplicaListsAdminMixin
from core.errors import DomainError
from core.limits import max_length
from inventory.admin_scoping import StationScopedAdminMixin

from . import services
from .access import may_update_shipment, stations_deciding
from .models import Cargo, TrackingEvent


class TrackingEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = TrackingEvent
    fields = ("created_at", "from_status", "to_status", "actor", "note")
    readonly_fields = fields
    extra = 0


class ShipmentForm(forms.ModelForm):
    note = forms.CharField(
        required=False,
        max_length=max_length(TrackingEvent, "note"),
        help_text="Goes into the tracking history.",
    )

    class Meta:
        model = Cargo
        fields = ("status", "eta", "location_note")

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        if self.instance.pk:
            # Only the moves the user's side decides (cargo.access): a loss is the call of the
            # end that bears it; the other end reports one (the "Report a suspected loss"
            # action).
            user = getattr(request, "user", None)
            allowed = {
                self.instance.status,
                *(
                    target
                    for target in services.allowed_transitions(self.instance)
                    if may_update_shipment(user, self.instance, target)
                ),
            }
            self.fields["status"].choices = [
                choice for choice in Cargo.Status.choices if choice[0] in allowed
            ]

    def clean(self):
        cleaned = super().clean()
        status = cleaned.get("status")
        shipment = Cargo.objects.get(pk=self.instance.pk)
        target = status if status and status != shipment.status else None
        if not may_update_shipment(self.request.user, shipment, target):
            codes = {
                shipment.origin_id: shipment.origin.code,
                shipment.destination_id: shipment.destination.code,
            }
            deciding = " or ".join(codes[i] for i in stations_deciding(shipment, target))
            raise forms.ValidationError(
                f"You may not move {shipment.shipment_id} to {target}: only operators of "
                f"{deciding} may (departure and cancellation are the origin's call, delivery "
                "the destination's, a loss the call of the end that bears it)."
                if target
                else f"You do not operate either end of {shipment.shipment_id}."
            )
        if target and target not in services.allowed_transitions(shipment):
            raise forms.ValidationError({"status": f"{shipment.status} cannot become {target}."})
        if "eta" in self.changed_data and cleaned.get("eta"):
            services.shipment_check_eta(shipment=shipment, eta=cleaned["eta"], status=target)
        return cleaned


class OverdueFilter(admin.SimpleListFilter):
    """In transit past the ETA (`Cargo.objects.overdue()`): the operations summary links here."""

    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", "Overdue"), ("no", "Not overdue")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.overdue()
        if self.value() == "no":
            return queryset.not_overdue()
        return queryset


@admin.register(Cargo)
class CargoAdmin(
    ReplicaListsAdminMixin, DomainErrorMessagesMixin, StationScopedAdminMixin, admin.ModelAdmin
):
    station_lookups = ("origin", "destination")
    form = ShipmentForm
    inlines = (TrackingEventInline,)
    list_display = (
        "shipment_id",
        "trade",
        "origin",
        "destination",
        "status",
        "eta",
        "is_overdue",
        "departed_at",
        "delivered_at",
    )
    list_filter = ("status", OverdueFilter, "origin", "destination", "eta")
    search_fields = ("shipment_id", "trade__transaction_id", "origin__code", "destination__code")
    list_select_related = ("trade", "origin", "destination")
    readonly_fields = (
        "shipment_id",
        "trade",
        "origin",
        "destination",
        "departed_at",
        "delivered_at",
        "created_at",
        # A loss the other end suspects (cargo.services.shipment_report_loss): shown, never
        # edited here.
        "loss_reported_at",
        "loss_reported_by",
        "loss_report_note",
    )
    fields = (*readonly_fields, "status", "eta", "location_note", "note")
    actions = ("report_loss",)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)

        class RequestShipmentForm(form_class):
            def __init__(self, *args, **inner):
                super().__init__(*args, request=request, **inner)

        return RequestShipmentForm

    def has_add_permission(self, request):
        return False  # shipments are created by trades

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Report a suspected loss (tells the end that decides it)")
    def report_loss(self, request, queryset):
        reported = []
        for shipment in queryset:
            try:
                services.shipment_report_loss(
                    shipment=shipment, actor=request.user, note="reported in the admin"
                )
            except DomainError as exc:
                self.message_user(request, f"{shipment.shipment_id}: {exc}", messages.ERROR)
            else:
                reported.append(shipment.shipment_id)
        if reported:
            self.message_user(
                request, f"Reported as possibly lost: {', '.join(reported)}.", messages.SUCCESS
            )

    @admin.display(boolean=True, description="overdue")
    def is_overdue(self, shipment):
        return shipment.is_overdue

    def save_model(self, request, obj, form, change):
        # The same service as the API: the transition rules, the ledger and the tracking row.
        services.shipment_update(
            shipment=Cargo.objects.get(pk=obj.pk),
            actor=request.user,
            status=form.cleaned_data["status"],
            # Only what the operator changed: an untouched ETA field would otherwise undo the
            # new ETA a departure sets.
            eta=form.cleaned_data["eta"] if "eta" in form.changed_data else None,
            location_note=form.cleaned_data["location_note"],
            note=form.cleaned_data.get("note", ""),
        )
