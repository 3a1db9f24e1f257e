from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils.html import format_html

from core.admin import DomainErrorMessagesMixin, ReadOnlyAdminMixin, ReplicaListsAdminMixin
from core.errors import DomainError
from credits.disclosure import as_told_to
from inventory.access import stations_for
from inventory.admin_scoping import StationScopedAdminMixin
from inventory.models import Station
from inventory.selectors import stock_shortfalls

from . import (
    consent,
    consent_admin,  # noqa: F401  (proposals and agreements: registered on import)
)
from .models import IdempotencyRecord, Trade, TradeLine, total_expression
from .services import LineSpec, trade_place, trade_validate


class TradeLineFormSet(BaseInlineFormSet):
    """Checks a new trade's lines as the service would, so the operator sees field errors
    on the form, the buyer's consent among them (trades.consent); the service still re-checks
    under locks when the trade is placed."""

    request = None  # set by TradeLineInline.get_formset

    def clean(self):
        super().clean()
        if self.instance.placed_at or any(self.errors):
            return
        forms = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        lines = [
            LineSpec(
                f.cleaned_data["commodity"],
                f.cleaned_data["quantity"],
                f.cleaned_data["unit_price"],
            )
            for f in forms
        ]
        seller = getattr(self.instance, "seller", None) if self.instance.seller_id else None
        buyer = getattr(self.instance, "buyer", None) if self.instance.buyer_id else None
        try:
            trade_validate(seller=seller, buyer=buyer, lines=lines)
        except ValidationError as exc:
            raise ValidationError([m for ms in exc.message_dict.values() for m in ms]) from exc
        if seller is None:
            return
        shortfalls = stock_shortfalls(
            station=seller, wanted=[(line.commodity, line.quantity) for line in lines]
        )
        if shortfalls:
            raise ValidationError([shortfall.message for shortfall in shortfalls])
        if self.request is not None and buyer is not None:
            actor = self.request.user
            try:
                consent.require_operator(actor, seller, "selling")
                consent.buyer_consent(
                    actor=actor, seller=seller, buyer=buyer, lines=lines, terms=self.instance.terms
                )
            except DomainError as exc:
                raise ValidationError(str(as_told_to(actor, exc))) from exc


class TradeLineInline(admin.TabularInline):
    model = TradeLine
    formset = TradeLineFormSet
    autocomplete_fields = ("commodity",)
    fields = ("commodity", "quantity", "unit_price", "subtotal")
    readonly_fields = ("subtotal",)
    extra = 1
    min_num = 1

    def get_readonly_fields(self, request, obj=None):
        # A placed trade has moved stock: its lines are history.
        if obj is not None and obj.placed_at:
            return self.fields
        return self.readonly_fields

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)  # a class made for this request
        formset.request = request
        return formset

    def has_add_permission(self, request, obj=None):
        return obj is None and super().has_add_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return obj is None and super().has_delete_permission(request, obj)


class AgreementUsesFilter(admin.SimpleListFilter):
    """?agreement=<agreement id>: the trades placed under it (the agreement's "uses" link).
    Offers only the agreement asked for, never a list of every agreement."""

    title = "agreement"
    parameter_name = "agreement"

    def lookups(self, request, model_admin):
        value = request.GET.get(self.parameter_name)
        return [(value, value)] if value else []

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(agreement__agreement_id=self.value())
        return queryset


@admin.register(Trade)
class TradeAdmin(
    ReplicaListsAdminMixin, DomainErrorMessagesMixin, StationScopedAdminMixin, admin.ModelAdmin
):
    station_lookups = ("seller", "buyer")
    inlines = (TradeLineInline,)
    list_display = (
        "transaction_id",
        "seller",
        "buyer",
        "status",
        "total_credits",
        "shipment_link",
        "agreement",
        "created_by",
        "created_at",
    )
    list_filter = ("status", "created_at", "seller", "buyer", AgreementUsesFilter)
    search_fields = ("transaction_id", "seller__code", "buyer__code", "lines__commodity__code")
    list_select_related = ("seller", "buyer", "cargo", "created_by", "agreement")
    date_hierarchy = "created_at"
    readonly_fields = (
        "transaction_id",
        "status",
        "agreement",
        "created_by",
        "placed_at",
        "created_at",
    )
    fields = (
        "transaction_id",
        "seller",
        "buyer",
        "status",
        "agreement",
        "created_by",
        "placed_at",
        "created_at",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(total_value=total_expression())

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return (*self.readonly_fields, "seller", "buyer")
        return self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "seller":
            # An operator sells only from their own stations.
            kwargs["queryset"] = stations_for(request.user)
        elif db_field.name == "buyer":
            kwargs["queryset"] = Station.objects.all()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None):
        return False  # trades are history; cancel them through their shipment

    @admin.display(description="total (credits)", ordering="total_value")
    def total_credits(self, trade):
        return trade.total_value

    @admin.display(description="shipment", ordering="cargo__status")
    def shipment_link(self, trade):
        shipment = getattr(trade, "cargo", None)
        if shipment is None:
            return "-"
        url = reverse("admin:cargo_cargo_change", args=[shipment.pk])
        return format_html(
            '<a href="{}" title="{}">{}</a>',
            url,
            shipment.shipment_id,
            shipment.get_status_display(),
        )

    def save_model(self, request, obj, form, change):
        if not change:
            consent.require_operator(request.user, obj.seller, "selling")
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        trade = form.instance
        if not change and trade.placed_at is None:
            # Inlines are saved after the parent: only now do the lines exist. A refusal
            # (no consent, a race for the stock or the credits lost since the form was checked)
            # rolls the trade row and its lines back with it: DomainErrorMessagesMixin runs the
            # whole form in one transaction. The buyer's figures only for its operators.
            try:
                trade_place(trade=trade, actor=request.user)
            except DomainError as exc:
                raise as_told_to(request.user, exc) from None


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Answers kept for retried POST /api/trades/ (24 hours); shown for support, never edited."""

    list_display = ("key", "user", "response_status", "created_at")
    list_filter = ("response_status", "created_at")
    search_fields = ("key", "user__username")
    list_select_related = ("user",)
    exclude = ("response_body",)
    readonly_fields = ("key", "user", "request_fingerprint", "response_status", "created_at")

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser
