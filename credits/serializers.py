from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import StrictInputSerializer
from core.limits import decimal_size, max_length, size_of

from .models import Account, Entry, Transfer
from .services import CENT, MAX_AMOUNT

CREDITS = decimal_size(Account, "balance")  # every amount of an account has its size


class BalancesSerializer(serializers.Serializer):
    """A station's account: what it holds, what it has held for trades under way, what is on
    its way to it, and what it may still spend (balance - held + credit_limit)."""

    station = serializers.CharField()
    balance = serializers.DecimalField(**CREDITS)
    held = serializers.DecimalField(**CREDITS)
    incoming = serializers.DecimalField(**CREDITS)
    available = serializers.DecimalField(**CREDITS)
    credit_limit = serializers.DecimalField(**CREDITS)


class BalancesAsOfSerializer(BalancesSerializer):
    as_of = serializers.DateTimeField()


class BalancePointSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    balance = serializers.DecimalField(**CREDITS)
    available = serializers.DecimalField(**CREDITS)


class BalanceHistorySerializer(serializers.Serializer):
    station = serializers.CharField()
    interval = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    points = BalancePointSerializer(many=True)


class AsOfQuerySerializer(serializers.Serializer):
    as_of = serializers.DateTimeField(
        help_text="An ISO 8601 time; the balances as they stood then (UTC if no offset)."
    )


def amount_field(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_value=MAX_AMOUNT, **size_of(MAX_AMOUNT), **kwargs)


class TransferRequestSerializer(StrictInputSerializer):
    amount = amount_field(min_value=CENT, help_text="Credits, at most 2 decimal places, > 0.")
    memo = serializers.CharField(
        max_length=max_length(Transfer, "memo"), required=False, allow_blank=True, default=""
    )


class CreditLimitSerializer(StrictInputSerializer):
    credit_limit = amount_field(min_value=Decimal("0"), help_text="Credits, >= 0.")


class TransferSerializer(serializers.ModelSerializer):
    station = serializers.SerializerMethodField()

    class Meta:
        model = Transfer
        fields = ("id", "kind", "status", "station", "amount", "memo", "created_at")

    def get_station(self, transfer) -> str:
        return self.context["station"].code


class ConsentSerializer(serializers.Serializer):
    kind = serializers.CharField()
    by = serializers.CharField(allow_null=True)
    agreement = serializers.CharField(allow_null=True)


class EntrySerializer(serializers.ModelSerializer):
    transfer: serializers.PrimaryKeyRelatedField[Transfer] = serializers.PrimaryKeyRelatedField(
        read_only=True
    )
    trade = serializers.SerializerMethodField()
    available_after = serializers.DecimalField(read_only=True, **CREDITS)
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    consent = serializers.SerializerMethodField(
        help_text="Whose say let the transfer commit: kind (operator, agreement, dispatch, "
        "system), by (a username) and agreement (its id, under an agreement)."
    )

    class Meta:
        model = Entry
        fields = (
            "id",
            "kind",
            *Entry.AMOUNTS,
            "credit_limit_after",
            "available_after",
            "transfer",
            "trade",
            "memo",
            "actor",
            "consent",
            "created_at",
        )

    @extend_schema_field(ConsentSerializer(allow_null=True))
    def get_consent(self, entry) -> dict | None:
        transfer = entry.transfer
        if transfer is None or not transfer.consent:
            return None
        return {
            "kind": transfer.consent,
            "by": getattr(transfer.consented_by, "username", None),
            "agreement": getattr(transfer.agreement, "agreement_id", None),
        }

    def get_trade(self, entry) -> str | None:
        transfer = entry.transfer
        return transfer.trade.transaction_id if transfer and transfer.trade_id else None
