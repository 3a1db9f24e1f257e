from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import CopiedFields, JSONIntegerField, StrictInputSerializer
from core.limits import decimal_size, integer_range, max_length, size
from credits.models import Transfer
from credits.selectors import settlement_of
from credits.services import MAX_AMOUNT
from inventory import directory
from inventory.models import Commodity, Station

from .models import Agreement, Proposal, Trade, TradeLine, total_expression
from .services import MAX_LINE_QUANTITY, MAX_UNIT_PRICE, LineSpec

MAX_LINES = 200
# The columns' sizes and lengths, from the models (core.limits).
UNIT_PRICE = decimal_size(TradeLine, "unit_price")
STATION_CODE = max_length(Station, "code")
COMMODITY_CODE = max_length(Commodity, "code")
TOTAL = size(total_expression().output_field)  # a trade's total, a line's subtotal


# The answers' serializers declare their fields rather than derive them from the models: a
# ModelSerializer works its fields out from the model on every instance, which was an eighth of
# a worker's time answering trades (docs/performance.md, "Where a trade's CPU goes"); and copy
# them shallowly (CopiedFields), as the input serializers do.


class TradeLineSerializer(CopiedFields, serializers.Serializer):
    commodity = serializers.CharField(source="commodity.code")
    quantity = serializers.IntegerField(**integer_range(TradeLine, "quantity"))
    unit_price = serializers.DecimalField(
        help_text=TradeLine._meta.get_field("unit_price").help_text, **UNIT_PRICE
    )
    subtotal = serializers.DecimalField(read_only=True, **TOTAL)


class ShipmentSummarySerializer(CopiedFields, serializers.Serializer):
    shipment_id = serializers.CharField()
    status = serializers.CharField()
    eta = serializers.DateTimeField()


class SettlementSerializer(CopiedFields, serializers.Serializer):
    status = serializers.ChoiceField(choices=["held", "settled", "released"])
    amount = serializers.DecimalField(**decimal_size(Transfer, "amount"))


class TradeSerializer(CopiedFields, serializers.Serializer):
    transaction_id = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(choices=Trade.Status.choices, required=False)
    seller = serializers.CharField(source="seller.code")
    buyer = serializers.CharField(source="buyer.code")
    items = TradeLineSerializer(source="lines", many=True)
    total = serializers.SerializerMethodField()
    terms = serializers.ChoiceField(choices=Trade.Terms.choices, required=False)
    agreement = serializers.CharField(
        source="agreement.agreement_id",
        allow_null=True,
        help_text="The standing agreement the buyer consented through, if any.",
    )
    settlement = serializers.SerializerMethodField()
    cargo = ShipmentSummarySerializer(allow_null=True)
    created_by = serializers.CharField(source="created_by.username", allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    @extend_schema_field(serializers.DecimalField(**TOTAL))
    def get_total(self, trade) -> str:
        return str(trade.total.quantize(Decimal("0.01")))

    @extend_schema_field(SettlementSerializer(allow_null=True))
    def get_settlement(self, trade) -> dict | None:
        return settlement_of(trade)


class TradeLineInputSerializer(StrictInputSerializer):
    commodity = serializers.SlugField(max_length=COMMODITY_CODE)
    quantity = JSONIntegerField(min_value=1, max_value=MAX_LINE_QUANTITY)
    unit_price = serializers.DecimalField(
        min_value=Decimal("0"), max_value=MAX_UNIT_PRICE, **UNIT_PRICE
    )


class TradeCreateSerializer(StrictInputSerializer):
    """A new trade. Stations and commodities are named by code and resolved from the process's
    directory (inventory.directory), or in one query each, whatever the number of lines."""

    seller = serializers.SlugField(max_length=STATION_CODE)
    buyer = serializers.SlugField(max_length=STATION_CODE)
    items = TradeLineInputSerializer(many=True, allow_empty=False, max_length=MAX_LINES)
    terms = serializers.ChoiceField(
        choices=Trade.Terms.choices,
        default=Trade.Terms.SELLER_RISK,
        help_text="Who pays for a lost shipment: seller_risk (the buyer's hold is released) "
        "or buyer_risk (the buyer pays).",
    )

    def validate(self, attrs):
        stations = directory.stations.by_code({attrs["seller"], attrs["buyer"]})
        commodities = directory.commodities.by_code(item["commodity"] for item in attrs["items"])
        errors: dict = {}
        for field in ("seller", "buyer"):
            if attrs[field] not in stations:
                errors[field] = [f"Object with code={attrs[field]} does not exist."]
        line_errors = [
            {"commodity": [f"Object with code={item['commodity']} does not exist."]}
            if item["commodity"] not in commodities
            else {}
            for item in attrs["items"]
        ]
        if any(line_errors):
            errors["items"] = line_errors
        if errors:
            raise serializers.ValidationError(errors)
        attrs["seller"], attrs["buyer"] = stations[attrs["seller"]], stations[attrs["buyer"]]
        for item in attrs["items"]:
            item["commodity"] = commodities[item["commodity"]]
        # The trade's own rules (trades.services.trade_validate) are checked once, by the
        # service the view calls: its ValidationError is a 400 naming the field all the same.
        return attrs

    @staticmethod
    def _spec(item) -> LineSpec:
        return LineSpec(item["commodity"], item["quantity"], item["unit_price"])

    def line_specs(self) -> list[LineSpec]:
        return [self._spec(item) for item in self.validated_data["items"]]


# ---------------------------------------------------------------------------------------------
# Proposals and agreements (docs/api.md#consent).


class ProposalItemSerializer(serializers.Serializer):
    commodity = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(**UNIT_PRICE)


class ProposalSerializer(serializers.ModelSerializer):
    seller = serializers.CharField(source="seller.code")
    buyer = serializers.CharField(source="buyer.code")
    items = ProposalItemSerializer(many=True)
    status = serializers.SerializerMethodField()
    answering_side = serializers.CharField()
    proposed_by = serializers.CharField(source="proposed_by.username", allow_null=True)
    answered_by = serializers.CharField(
        source="answered_by.username", allow_null=True, default=None
    )
    transaction_id = serializers.CharField(
        source="trade.transaction_id", allow_null=True, default=None
    )

    class Meta:
        model = Proposal
        fields = (
            "proposal_id",
            "status",
            "seller",
            "buyer",
            "proposed_by_side",
            "answering_side",
            "terms",
            "items",
            "total",
            "note",
            "proposed_by",
            "answered_by",
            "transaction_id",
            "expires_at",
            "answered_at",
            "created_at",
        )

    @extend_schema_field(serializers.ChoiceField(choices=Proposal.Status.choices))
    def get_status(self, proposal) -> str:
        return proposal.current_status()


class ProposalCreateSerializer(TradeCreateSerializer):
    """A trade to offer: the same fields as a trade, and a note for the other side."""

    note = serializers.CharField(
        max_length=max_length(Proposal, "note"), required=False, allow_blank=True, default=""
    )


class AgreementSerializer(serializers.ModelSerializer):
    buyer = serializers.CharField(source="buyer.code")
    seller = serializers.CharField(source="seller.code")
    commodities = serializers.SerializerMethodField()
    active = serializers.SerializerMethodField()
    granted_by = serializers.CharField(source="granted_by.username", allow_null=True)
    revoked_by = serializers.CharField(source="revoked_by.username", allow_null=True, default=None)

    class Meta:
        model = Agreement
        fields = (
            "agreement_id",
            "buyer",
            "seller",
            "commodities",
            "max_unit_price",
            "max_trade_total",
            "max_outstanding",
            "outstanding",
            "allow_buyer_risk",
            "expires_at",
            "active",
            "granted_by",
            "created_at",
            "revoked_at",
            "revoked_by",
        )

    def get_commodities(self, agreement) -> list[str]:
        return sorted(c.code for c in agreement.commodities.all())

    def get_active(self, agreement) -> bool:
        return agreement.is_active()


class AgreementCreateSerializer(StrictInputSerializer):
    buyer = serializers.SlugField(
        max_length=STATION_CODE, help_text="The station that pays: yours."
    )
    seller = serializers.SlugField(max_length=STATION_CODE, help_text="The station it lets trade.")
    commodities = serializers.ListField(
        child=serializers.SlugField(max_length=COMMODITY_CODE),
        required=False,
        default=list,
        max_length=200,
        help_text="Commodity codes it covers; empty or left out: every commodity.",
    )
    max_unit_price = serializers.DecimalField(
        min_value=Decimal("0"),
        max_value=MAX_UNIT_PRICE,
        **decimal_size(Agreement, "max_unit_price"),
    )
    # The most the caps may be: a trade's largest total, the most one transfer moves.
    max_trade_total = serializers.DecimalField(
        min_value=Decimal("0"), max_value=MAX_AMOUNT, **decimal_size(Agreement, "max_trade_total")
    )
    max_outstanding = serializers.DecimalField(
        min_value=Decimal("0"), max_value=MAX_AMOUNT, **decimal_size(Agreement, "max_outstanding")
    )
    allow_buyer_risk = serializers.BooleanField(required=False, default=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def validate(self, attrs):
        stations = directory.stations.by_code({attrs["seller"], attrs["buyer"]})
        errors: dict = {}
        for field in ("seller", "buyer"):
            if attrs[field] not in stations:
                errors[field] = [f"Object with code={attrs[field]} does not exist."]
        commodities = directory.commodities.by_code(attrs["commodities"])
        unknown = [code for code in attrs["commodities"] if code not in commodities]
        if unknown:
            errors["commodities"] = [f"Object with code={code} does not exist." for code in unknown]
        if errors:
            raise serializers.ValidationError(errors)
        attrs["seller"], attrs["buyer"] = stations[attrs["seller"]], stations[attrs["buyer"]]
        attrs["commodities"] = [commodities[code] for code in set(attrs["commodities"])]
        return attrs
