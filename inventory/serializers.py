from __future__ import annotations

from datetime import timedelta

from rest_framework import serializers

from core.api.serializers import JSONIntegerField, StrictInputSerializer
from core.limits import max_length

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


class AdjustmentSerializer(StrictInputSerializer):
    commodity = serializers.SlugRelatedField(slug_field="code", queryset=Commodity.objects.all())
    delta = JSONIntegerField(
        min_value=-MAX_ADJUSTMENT,
        max_value=MAX_ADJUSTMENT,
        help_text="Change of on_hand: positive adds, negative removes. Not zero.",
    )
    reason = serializers.CharField(
        max_length=max_length(StockMovement, "reason"), help_text="Why: a count, spoilage, a find."
    )

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


class AsOfQuerySerializer(serializers.Serializer):
    as_of = serializers.DateTimeField(
        help_text="An ISO 8601 time; the station's levels as they stood then (UTC if no offset)."
    )


class SpanQuerySerializer(serializers.Serializer):
    """A span of time in buckets, for a chart: stock here, credits in the credits app."""

    start = serializers.DateTimeField(required=False, help_text="Default: 7 days before end.")
    end = serializers.DateTimeField(required=False, help_text="Default: now.")
    interval = serializers.ChoiceField(choices=["hour", "day"], default="hour")

    def validate(self, data):
        from django.utils import timezone

        from .selectors import INTERVALS, MAX_POINTS

        data["end"] = data.get("end") or timezone.now()
        if data["end"].year > 9000:
            raise serializers.ValidationError({"end": ["end must be before the year 9000."]})
        if data.get("start") is None and data["end"].year < 2:
            raise serializers.ValidationError({"end": ["end must be after the year 1."]})
        data["start"] = data.get("start") or data["end"] - timedelta(days=7)
        if data["start"] >= data["end"]:
            raise serializers.ValidationError({"start": ["start must be before end."]})
        points = (data["end"] - data["start"]) / INTERVALS[data["interval"]]
        if points > MAX_POINTS:
            raise serializers.ValidationError(
                {
                    "interval": [
                        f"That is {points:.0f} points; at most {MAX_POINTS} per request: a "
                        "shorter span or a longer interval."
                    ]
                }
            )
        return data


class HistoryQuerySerializer(SpanQuerySerializer):
    commodity = serializers.SlugRelatedField(slug_field="code", queryset=Commodity.objects.all())


class HistoryPointSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    on_hand = serializers.IntegerField()
    incoming = serializers.IntegerField()


class StockHistorySerializer(serializers.Serializer):
    station = serializers.CharField()
    commodity = serializers.CharField()
    interval = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    points = HistoryPointSerializer(many=True)
