from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inventory.models import Commodity, Station

from .models import Trade, TradeLine
from .services import MAX_LINE_QUANTITY, MAX_UNIT_PRICE, LineSpec, trade_validate

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
        return str(trade.total.quantize(Decimal("0.01")))


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
        # The trade's own rules live in the service; the serializer only shapes the input.
        try:
            trade_validate(
                seller=attrs["seller"],
                buyer=attrs["buyer"],
                lines=[self._spec(item) for item in attrs["items"]],
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return attrs

    @staticmethod
    def _spec(item) -> LineSpec:
        return LineSpec(item["commodity"], item["quantity"], item["unit_price"])

    def line_specs(self) -> list[LineSpec]:
        return [self._spec(item) for item in self.validated_data["items"]]


class TradeCancelSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=255, required=False, allow_blank=True)
