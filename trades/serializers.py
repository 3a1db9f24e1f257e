from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inventory.models import Commodity, Station

from .models import Trade, TradeLine
from .services import MAX_LINE_QUANTITY, MAX_UNIT_PRICE, LineSpec

MAX_LINES = 200


class TradeLineSerializer(serializers.ModelSerializer):
    commodity = serializers.CharField(source="commodity.code")
    subtotal = serializers.DecimalField(max_digits=24, decimal_places=2, read_only=True)

    class Meta:
        model = TradeLine
        fields = ("commodity", "quantity", "unit_price", "subtotal")


class ShipmentSummarySerializer(serializers.Serializer):
    shipment_id = serializers.CharField()
    status = serializers.CharField()
    eta = serializers.DateTimeField()


class TradeSerializer(serializers.ModelSerializer):
    seller = serializers.CharField(source="seller.code")
    buyer = serializers.CharField(source="buyer.code")
    items = TradeLineSerializer(source="lines", many=True)
    total = serializers.SerializerMethodField()
    cargo = ShipmentSummarySerializer(allow_null=True)
    created_by = serializers.CharField(source="created_by.username", allow_null=True)

    class Meta:
        model = Trade
        fields = (
            "transaction_id",
            "status",
            "seller",
            "buyer",
            "items",
            "total",
            "cargo",
            "created_by",
            "created_at",
            "updated_at",
        )

    @extend_schema_field(serializers.DecimalField(max_digits=24, decimal_places=2))
    def get_total(self, trade) -> str:
        # Summed from the prefetched lines: no query per trade in a list.
        total = sum((line.subtotal for line in trade.lines.all()), Decimal("0.00"))
        return str(total.quantize(Decimal("0.01")))


class TradeLineInputSerializer(serializers.Serializer):
    commodity = serializers.SlugRelatedField(slug_field="code", queryset=Commodity.objects.all())
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_LINE_QUANTITY)
    unit_price = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0"), max_value=MAX_UNIT_PRICE
    )


class TradeCreateSerializer(serializers.Serializer):
    seller = serializers.SlugRelatedField(slug_field="code", queryset=Station.objects.all())
    buyer = serializers.SlugRelatedField(slug_field="code", queryset=Station.objects.all())
    items = TradeLineInputSerializer(many=True, allow_empty=False, max_length=MAX_LINES)

    def validate(self, attrs):
        if attrs["seller"] == attrs["buyer"]:
            raise serializers.ValidationError(
                {"buyer": ["The buyer must be a different station from the seller."]}
            )
        codes = [item["commodity"].code for item in attrs["items"]]
        repeated = sorted({code for code in codes if codes.count(code) > 1})
        if repeated:
            raise serializers.ValidationError(
                {
                    "items": [
                        f"Commodity {c} appears more than once; put it on one line."
                        for c in repeated
                    ]
                }
            )
        return attrs

    def line_specs(self) -> list[LineSpec]:
        return [
            LineSpec(item["commodity"], item["quantity"], item["unit_price"])
            for item in self.validated_data["items"]
        ]


class TradeCancelSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=255, required=False, allow_blank=True)
