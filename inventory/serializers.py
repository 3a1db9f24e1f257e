from __future__ import annotations

from rest_framework import serializers

from .models import Commodity, Station, StockLevel, StockMovement

MAX_ADJUSTMENT = 1_000_000_000


class StationSerializer(serializers.ModelSerializer):
    x = serializers.FloatField(min_value=-1e7, max_value=1e7, required=False)
    y = serializers.FloatField(min_value=-1e7, max_value=1e7, required=False)
    z = serializers.FloatField(min_value=-1e7, max_value=1e7, required=False)

    class Meta:
        model = Station
        fields = ("code", "name", "kind", "x", "y", "z")


class CommoditySerializer(serializers.ModelSerializer):
    class Meta:
        model = Commodity
        fields = ("code", "name", "unit")


class StockItemSerializer(serializers.ModelSerializer):
    commodity = serializers.CharField(source="commodity.code")

    class Meta:
        model = StockLevel
        fields = ("commodity", "on_hand", "incoming")


class StationInventorySerializer(serializers.ModelSerializer):
    """A station's inventory, in the original system's shape."""

    station = serializers.CharField(source="code")
    quantity = serializers.SerializerMethodField(help_text="Total on hand, all commodities.")
    items = StockItemSerializer(source="stock_levels", many=True)

    class Meta:
        model = Station
        fields = ("station", "name", "kind", "quantity", "items")

    def get_quantity(self, station) -> int:
        return sum(level.on_hand for level in station.stock_levels.all())


class AdjustmentSerializer(serializers.Serializer):
    commodity = serializers.SlugRelatedField(slug_field="code", queryset=Commodity.objects.all())
    delta = serializers.IntegerField(
        min_value=-MAX_ADJUSTMENT,
        max_value=MAX_ADJUSTMENT,
        help_text="Change of on_hand: positive adds, negative removes. Not zero.",
    )
    reason = serializers.CharField(max_length=255, help_text="Why: a count, spoilage, a find.")

    def validate_delta(self, value: int) -> int:
        if value == 0:
            raise serializers.ValidationError("An adjustment must change the stock (not zero).")
        return value


class MovementSerializer(serializers.ModelSerializer):
    station = serializers.CharField(source="station.code")
    commodity = serializers.CharField(source="commodity.code")
    transaction_id = serializers.CharField(source="trade.transaction_id", allow_null=True)
    shipment_id = serializers.CharField(source="shipment.shipment_id", allow_null=True)
    actor = serializers.CharField(source="actor.username", allow_null=True)

    class Meta:
        model = StockMovement
        fields = (
            "id",
            "station",
            "commodity",
            "bucket",
            "delta",
            "balance_after",
            "kind",
            "transaction_id",
            "shipment_id",
            "actor",
            "reason",
            "created_at",
        )
