from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response

from core.api.etag import IF_MATCH, ETagMixin, check_if_match, with_etag
from core.replica import ReplicaReadsMixin
from trades.selectors import trades_visible_to
from trades.serializers import TradeSerializer

from .access import may_update_shipment, stations_deciding
from .filters import CargoFilter
from .models import Cargo
from .selectors import shipments_visible_to, tracking_history
from .serializers import (
    CargoSerializer,
    CargoUpdateSerializer,
    LossReportSerializer,
    TrackingEventSerializer,
    TradeCancelSerializer,
)
from .services import shipment_report_loss, shipment_update, trade_cancel


def apply_update(request, shipment: Cargo) -> Cargo:
    """Validate, authorise and apply a client's update through the shipment service."""
    serializer = CargoUpdateSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    target = data.get("status")
    target = target if target and target != shipment.status else None
    if not may_update_shipment(request.user, shipment, target):
        codes = {
            shipment.origin_id: shipment.origin.code,
            shipment.destination_id: shipment.destination.code,
        }
        deciding = " or ".join(codes[i] for i in stations_deciding(shipment, target))
        raise PermissionDenied(
            f"Only operators of {deciding} may make this change to {shipment.shipment_id}."
        )
    shipment_update(
        shipment=shipment,
        actor=request.user,
        status=data.get("status"),
        eta=data.get("eta"),
        location_note=data.get("location_note"),
        note=data.get("note", ""),
        # Against what the caller read, with the row locked: 412 if it changed meanwhile.
        precondition=lambda locked: check_if_match(
            request,
            lambda: CargoSerializer(shipments_visible_to(request.user).get(pk=locked.pk)).data,
        ),
    )
    return shipments_visible_to(request.user).get(pk=shipment.pk)


@extend_schema_view(
    list=extend_schema(summary="List shipments, newest first"),
    retrieve=extend_schema(summary="One shipment (carries an ETag)"),
)
class CargoViewSet(
    ReplicaReadsMixin,
    ETagMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = CargoSerializer
    lookup_field = "shipment_id"
    replica_actions = ("list", "retrieve", "events")
    filterset_class = CargoFilter
    ordering_fields = ("created_at", "eta")
    ordering = ("-created_at", "-id")

    def get_queryset(self):
        # A shipment the caller may not read answers 404, as one that does not exist.
        return shipments_visible_to(self.request.user)

    @extend_schema(
        summary="Update a shipment: status (by the transition rules), ETA, location note",
        parameters=[IF_MATCH],
        request=CargoUpdateSerializer,
        responses={200: CargoSerializer},
    )
    def partial_update(self, request, shipment_id=None):
        shipment = apply_update(request, self.get_object())
        return with_etag(request, Response(CargoSerializer(shipment).data))

    @extend_schema(
        summary="Report a suspected loss (either end; the deciding end is told)",
        description="Under seller_risk only the seller's operators (or dispatch staff) declare "
        "a departed shipment lost, under buyer_risk only the buyer's. Either end may report a "
        "suspected loss: it shows on the shipment (loss_reported_at, loss_reported_by, "
        "loss_report_note), is announced to both ends as cargo.loss_reported, and moves no "
        "credits and no stock.",
        request=LossReportSerializer,
        responses={200: CargoSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="report-loss",
        pagination_class=None,
        filter_backends=[],
    )
    def report_loss(self, request, shipment_id=None):
        shipment = self.get_object()
        serializer = LossReportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        shipment_report_loss(
            shipment=shipment, actor=request.user, note=serializer.validated_data.get("note", "")
        )
        return Response(
            CargoSerializer(shipments_visible_to(request.user).get(pk=shipment.pk)).data
        )

    @extend_schema(
        summary="A shipment's tracking history", responses=TrackingEventSerializer(many=True)
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def events(self, request, shipment_id=None):
        shipment = self.get_object()
        history = tracking_history(shipment)
        return Response(TrackingEventSerializer(history, many=True).data)


CargoUpdated = inline_serializer(
    "CargoUpdated", fields={"message": serializers.CharField(), "cargo": CargoSerializer()}
)


@extend_schema(
    summary="Update a shipment (the original system's route)",
    parameters=[IF_MATCH],
    request=CargoUpdateSerializer,
    responses={200: CargoUpdated},
    operation_id="cargo_update_legacy",
)
@api_view(["PUT"])
def update_cargo(request, shipment_id: str):
    try:
        shipment = shipments_visible_to(request.user).get(shipment_id=shipment_id)
    except Cargo.DoesNotExist:
        return Response({"message": "Cargo not found", "code": "not_found"}, status=404)
    shipment = apply_update(request, shipment)
    return Response(
        {"message": "Cargo updated successfully", "cargo": CargoSerializer(shipment).data}
    )


@extend_schema(
    summary="Cancel a trade whose goods have not left",
    parameters=[
        OpenApiParameter("transaction_id", str, OpenApiParameter.PATH),
        IF_MATCH,
    ],
    request=TradeCancelSerializer,
    responses={200: TradeSerializer},
    operation_id="trades_cancel_create",
    tags=["trades"],
)
@api_view(["POST"])
def cancel_trade(request, transaction_id: str):
    """POST /api/trades/{transaction_id}/cancel/. A trade's cancellation is its shipment's
    (cargo.services.trade_cancel), so the route is served here, beside the other shipment
    changes; the seller's operators decide it, as they decide a departure."""
    trades = trades_visible_to(request.user)
    try:
        trade = trades.get(transaction_id=transaction_id)
    except trades.model.DoesNotExist:
        raise NotFound(f"No trade {transaction_id}.") from None
    if not may_update_shipment(request.user, trade.cargo, Cargo.Status.CANCELLED):
        raise PermissionDenied(f"You do not operate {trade.seller.code}, the selling station.")
    serializer = TradeCancelSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    trade_cancel(
        trade=trade,
        actor=request.user,
        note=serializer.validated_data.get("note", ""),
        precondition=lambda locked: check_if_match(
            request, lambda: TradeSerializer(trades.get(pk=trade.pk)).data
        ),
    )
    return with_etag(request, Response(TradeSerializer(trades.get(pk=trade.pk)).data))
