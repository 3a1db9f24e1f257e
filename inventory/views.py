from __future__ import annotations

from dataclasses import asdict

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from core.api.etag import IF_MATCH, ETagMixin, check_if_match, with_etag
from core.api.pagination import CodeCursorPagination, NewestFirstCursorPagination
from core.replica import ReplicaReadsMixin

from .access import acts_for_all_stations, may_act_for, visible_to
from .filters import MovementFilter, StationFilter
from .models import Commodity, Station, StockMovement
from .selectors import inventories_visible_to, ledger_of, levels_as_of, stock_history
from .serializers import (
    AdjustmentSerializer,
    AsOfQuerySerializer,
    CommoditySerializer,
    HistoryQuerySerializer,
    MovementSerializer,
    StationInventorySerializer,
    StationSerializer,
    StockHistorySerializer,
)
from .services import stock_adjust


class ReadSignedInWriteDispatch(permissions.BasePermission):
    """Anyone signed in reads; only superusers and dispatch staff write."""

    message = "Only dispatch staff may change stations and commodities."

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        return request.method in permissions.SAFE_METHODS or acts_for_all_stations(request.user)


class DirectoryViewSet(ReplicaReadsMixin, ETagMixin, viewsets.ModelViewSet):
    permission_classes = [ReadSignedInWriteDispatch]
    pagination_class = CodeCursorPagination
    lookup_field = "code"
    search_fields = ("code", "name")
    ordering_fields = ("code",)
    ordering = ("code",)

    def perform_update(self, serializer):
        check_if_match(self.request, self.get_serializer(serializer.instance).data)
        serializer.save()

    def perform_destroy(self, instance):
        check_if_match(self.request, self.get_serializer(instance).data)
        instance.delete()


@extend_schema_view(
    list=extend_schema(summary="List stations"),
    create=extend_schema(summary="Add a station (dispatch staff)"),
)
class StationViewSet(DirectoryViewSet):
    queryset = Station.objects.all()
    serializer_class = StationSerializer
    filterset_class = StationFilter


@extend_schema_view(list=extend_schema(summary="List commodities"))
class CommodityViewSet(DirectoryViewSet):
    queryset = Commodity.objects.all()
    serializer_class = CommoditySerializer
    filterset_fields = ("unit",)


@extend_schema_view(
    list=extend_schema(summary="Every station's inventory"),
    retrieve=extend_schema(summary="One station's inventory (carries an ETag)"),
)
class InventoryViewSet(ReplicaReadsMixin, ETagMixin, viewsets.ReadOnlyModelViewSet):
    replica_actions = ("list", "retrieve", "history")
    serializer_class = StationInventorySerializer
    pagination_class = CodeCursorPagination
    lookup_field = "code"
    lookup_url_kwarg = "station_code"
    filterset_class = StationFilter
    search_fields = ("code", "name")
    ordering_fields = ("code",)
    ordering = ("code",)

    def get_queryset(self):
        # A station's stock is its operators' business (and dispatch staff's): others get 404.
        return inventories_visible_to(self.request.user)

    @extend_schema(
        summary="Correct a station's stock (ledger kind: adjustment)",
        parameters=[IF_MATCH],
        request=AdjustmentSerializer,
        responses={201: MovementSerializer},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def adjustments(self, request, station_code=None):
        station = self.get_object()
        if not may_act_for(request.user, station):
            raise PermissionDenied(f"You do not operate {station.code}.")
        serializer = AdjustmentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            check_if_match(request, lambda: StationInventorySerializer(station).data)
            movement = stock_adjust(
                station=station, actor=request.user, **serializer.validated_data
            )
        return Response(MovementSerializer(movement).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "as_of",
                OpenApiTypes.DATETIME,
                description="The levels as they stood at this ISO 8601 time, from the ledger.",
            )
        ]
    )
    def retrieve(self, request, *args, **kwargs):
        station = self.get_object()
        if "as_of" not in request.query_params:
            return with_etag(request, Response(self.get_serializer(station).data))
        query = AsOfQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        levels = levels_as_of(station, query.validated_data["as_of"])
        data = {
            "station": station.code,
            "name": station.name,
            "kind": station.kind,
            "quantity": sum(level.on_hand for level in levels),
            "items": [asdict(level) for level in levels],
            "as_of": query.validated_data["as_of"],
        }
        return with_etag(request, Response(data))

    @extend_schema(
        summary="A station's level of one commodity over time, from the ledger",
        parameters=[HistoryQuerySerializer],
        responses={200: StockHistorySerializer},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def history(self, request, station_code=None):
        station = self.get_object()
        query = HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        points = stock_history(
            station, q["commodity"], start=q["start"], end=q["end"], interval=q["interval"]
        )
        # Plain dicts: a serializer per point cost more than reading the points (2,000 of
        # them: 70 ms of 120); the renderer writes the times as the serializers do.
        return Response(
            {
                "station": station.code,
                "commodity": q["commodity"].code,
                "interval": q["interval"],
                "start": q["start"],
                "end": q["end"],
                "points": [
                    {"at": p.at, "on_hand": p.on_hand, "incoming": p.incoming} for p in points
                ],
            }
        )


@extend_schema_view(
    list=extend_schema(
        summary="A station's ledger, newest first",
        parameters=[OpenApiParameter("station_code", str, OpenApiParameter.PATH)],
    )
)
class StationMovementViewSet(ReplicaReadsMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """GET /api/inventory/{station_code}/movements/: the ledger of one station."""

    queryset = StockMovement.objects.none()  # for the schema; get_queryset scopes by station
    serializer_class = MovementSerializer
    pagination_class = NewestFirstCursorPagination
    filterset_class = MovementFilter
    ordering_fields = ("created_at",)
    ordering = ("-created_at", "-id")

    def get_queryset(self):
        readable = visible_to(Station.objects.all(), self.request.user, "pk")
        station = get_object_or_404(readable, code=self.kwargs["station_code"])
        return ledger_of(station)
