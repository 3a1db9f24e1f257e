from django.contrib import admin

from core.admin import ReadOnlyAdminMixin, ReplicaListsAdminMixin

from .admin_scoping import StationScopedAdminMixin
from .models import Commodity, Station, StockLevel, StockMovement


@admin.register(Station)
class StationAdmin(ReplicaListsAdminMixin, StationScopedAdminMixin, admin.ModelAdmin):
    station_lookups = ("pk",)
    list_display = ("code", "name", "kind", "x", "y", "z", "operator_count")
    list_filter = ("kind",)
    search_fields = ("code", "name")
    filter_horizontal = ("operators",)
    ordering = ("code",)

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(operator_total=Count("operators"))

    @admin.display(description="operators", ordering="operator_total")
    def operator_count(self, station):
        return station.operator_total


@admin.register(Commodity)
class CommodityAdmin(ReplicaListsAdminMixin, admin.ModelAdmin):
    list_display = ("code", "name", "unit")
    search_fields = ("code", "name")
    ordering = ("code",)


@admin.register(StockLevel)
class StockLevelAdmin(
    ReplicaListsAdminMixin, ReadOnlyAdminMixin, StationScopedAdminMixin, admin.ModelAdmin
):
    station_lookups = ("station",)
    list_display = ("station", "commodity", "on_hand", "incoming", "updated_at")
    list_filter = ("commodity", "station__kind")
    search_fields = ("station__code", "station__name", "commodity__code", "commodity__name")
    list_select_related = ("station", "commodity")


@admin.register(StockMovement)
class StockMovementAdmin(
    ReplicaListsAdminMixin, ReadOnlyAdminMixin, StationScopedAdminMixin, admin.ModelAdmin
):
    station_lookups = ("station",)
    list_display = (
        "created_at",
        "station",
        "commodity",
        "kind",
        "bucket",
        "delta",
        "balance_after",
        "trade",
        "actor",
        "reason",
    )
    list_filter = ("kind", "bucket", "commodity", "created_at")
    search_fields = ("station__code", "commodity__code", "trade__transaction_id", "reason")
    list_select_related = ("station", "commodity", "trade", "shipment", "actor")
    date_hierarchy = "created_at"
