from __future__ import annotations

from rest_framework import serializers

from core.api.serializers import StrictInputSerializer
from core.limits import max_length

from .models import Cargo, TrackingEvent

NOTE = max_length(TrackingEvent, "note")  # a note kept in the tracking history


class CargoItemSerializer(serializers.Serializer):
    commodity = serializers.CharField(source="commodity.code")
    quantity = serializers.IntegerField()


class CargoSerializer(serializers.ModelSerializer):
    transaction_id = serializers.CharField(source="trade.transaction_id")
    origin = serializers.CharField(source="origin.code")
    destination = serializers.CharField(source="destination.code")
    items = CargoItemSerializer(source="trade.lines", many=True)
    overdue = serializers.SerializerMethodField()
    terms = serializers.CharField(source="trade.terms")
    loss_reported_by = serializers.CharField(
        source="loss_reported_by.username", allow_null=True, default=None
    )

    class Meta:
        model = Cargo
        fields = (
            "shipment_id",
            "transaction_id",
            "status",
            "origin",
            "destination",
            "items",
            "eta",
            "overdue",
            "location_note",
            "departed_at",
            "delivered_at",
            "terms",
            "loss_reported_at",
            "loss_reported_by",
            "loss_report_note",
            "created_at",
            "updated_at",
        )

    def get_overdue(self, shipment) -> bool:
        return shipment.is_overdue


class CargoUpdateSerializer(StrictInputSerializer):
    """What a client may change on a shipment. Unknown fields are refused, not ignored."""

    aliases = {"ETA": "eta"}  # the original system's field name

    status = serializers.ChoiceField(choices=Cargo.Status.choices, required=False)
    eta = serializers.DateTimeField(required=False)
    location_note = serializers.CharField(
        max_length=max_length(Cargo, "location_note"), required=False, allow_blank=True
    )
    note = serializers.CharField(
        max_length=NOTE,
        required=False,
        allow_blank=True,
        help_text="Goes into the tracking history.",
    )

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(
                "Nothing to update: send status, eta, location_note or note."
            )
        return attrs


class TrackingEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", allow_null=True)

    class Meta:
        model = TrackingEvent
        fields = ("from_status", "to_status", "note", "actor", "created_at")


class LossReportSerializer(StrictInputSerializer):
    note = serializers.CharField(
        max_length=max_length(Cargo, "loss_report_note"),
        required=False,
        allow_blank=True,
        help_text="What is known of it.",
    )


class TradeCancelSerializer(StrictInputSerializer):
    note = serializers.CharField(max_length=NOTE, required=False, allow_blank=True)
