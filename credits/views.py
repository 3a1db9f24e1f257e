"""The credits API: /api/accounts/ (docs/api.md#the-rest-api; the rules: docs/domain.md#credits)."""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from core.api.headers import idempotency_key
from core.api.pagination import CodeCursorPagination, NewestFirstCursorPagination
from inventory.access import acts_for_all_stations, visible_to
from inventory.models import Station
from inventory.serializers import SpanQuerySerializer

from .filters import EntryFilter
from .models import Entry
from .selectors import (
    accounts_visible_to,
    balance_history,
    balances_as_of,
    balances_of,
    entries_of,
)
from .serializers import (
    AsOfQuerySerializer,
    BalanceHistorySerializer,
    BalancesAsOfSerializer,
    BalancesSerializer,
    CreditLimitSerializer,
    EntrySerializer,
    TransferRequestSerializer,
    TransferSerializer,
)
from .services import credits_deposit, credits_set_limit, credits_withdraw

AS_OF = OpenApiParameter(
    "as_of",
    OpenApiTypes.DATETIME,
    description="The balances as they stood at this ISO 8601 time, from the entries.",
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="A retry with the same key and body answers as the first request did and "
    "moves nothing; a refused transfer is refused again. The same key with another body: 422.",
)


def as_of(request):
    """The ?as_of= moment, or None; a 400 naming it when it is not a time."""
    if "as_of" not in request.query_params:
        return None
    query = AsOfQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data["as_of"]


@extend_schema_view(
    list=extend_schema(summary="Every station's account you may see", parameters=[AS_OF]),
    retrieve=extend_schema(summary="One station's account", parameters=[AS_OF]),
)
class AccountViewSet(viewsets.GenericViewSet):
    """A station's account is its operators' business and dispatch staff's, as its stock is:
    others get 404. Deposits, withdrawals and credit limits are dispatch staff's."""

    serializer_class = BalancesSerializer
    pagination_class = CodeCursorPagination
    lookup_field = "code"
    lookup_url_kwarg = "station_code"
    ordering = ("code",)
    filter_backends: list = []

    def get_queryset(self):
        return accounts_visible_to(self.request.user)

    def list(self, request):
        moment = as_of(request)
        page = self.paginate_queryset(self.get_queryset())
        if moment is None:
            rows = BalancesSerializer([balances_of(s) for s in page], many=True).data
        else:  # one probe per station of the page
            rows = BalancesAsOfSerializer([balances_as_of(s, moment) for s in page], many=True).data
        return self.get_paginated_response(rows)

    def retrieve(self, request, station_code=None):
        station = self.get_object()
        moment = as_of(request)
        if moment is None:
            return Response(BalancesSerializer(balances_of(station)).data)
        return Response(BalancesAsOfSerializer(balances_as_of(station, moment)).data)

    @extend_schema(
        summary="A station's balance over time, from the entries",
        parameters=[SpanQuerySerializer],
        responses={200: BalanceHistorySerializer},
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def history(self, request, station_code=None):
        station = self.get_object()
        query = SpanQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        points = balance_history(station, start=q["start"], end=q["end"], interval=q["interval"])
        return Response(
            {
                "station": station.code,
                "interval": q["interval"],
                "start": q["start"],
                "end": q["end"],
                "points": [
                    {"at": p["at"], "balance": str(p["balance"]), "available": str(p["available"])}
                    for p in points
                ],
            }
        )

    @extend_schema(
        summary="Set a station's credit limit (dispatch staff)",
        request=CreditLimitSerializer,
        responses={200: BalancesSerializer},
    )
    def partial_update(self, request, station_code=None):
        station = self._station_for_dispatch()
        serializer = CreditLimitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        credits_set_limit(
            station=station,
            credit_limit=serializer.validated_data["credit_limit"],
            actor=request.user,
        )
        station.refresh_from_db()
        return Response(BalancesSerializer(balances_of(_with_account(station))).data)

    @extend_schema(
        summary="Issue credits to a station from the treasury (dispatch staff)",
        parameters=[IDEMPOTENCY_KEY],
        request=TransferRequestSerializer,
        responses={201: TransferSerializer},
    )
    @action(detail=True, methods=["post"], pagination_class=None)
    def deposits(self, request, station_code=None):
        return self._transfer(request, credits_deposit)

    @extend_schema(
        summary="Take credits from a station back to the treasury (dispatch staff)",
        parameters=[IDEMPOTENCY_KEY],
        request=TransferRequestSerializer,
        responses={201: TransferSerializer},
    )
    @action(detail=True, methods=["post"], pagination_class=None)
    def withdrawals(self, request, station_code=None):
        return self._transfer(request, credits_withdraw)

    def _transfer(self, request, service):
        station = self._station_for_dispatch()
        serializer = TransferRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = idempotency_key(request)
        with transaction.atomic():
            outcome = service(
                station=station,
                actor=request.user,
                idempotency_key=key,
                **serializer.validated_data,
            )
        # Committed: a refusal under a key is on record, so a retry is refused again.
        if outcome.refusal is not None:
            raise outcome.refusal
        response = Response(
            TransferSerializer(outcome.transfer, context={"station": station}).data,
            status=status.HTTP_201_CREATED,
        )
        if outcome.replayed:
            response["Idempotent-Replayed"] = "true"
        return response

    def _station_for_dispatch(self) -> Station:
        station = self.get_object()  # 404 for a station the caller may not see
        if not acts_for_all_stations(self.request.user):
            raise PermissionDenied("Only dispatch staff may move credits or set credit limits.")
        return station


def _with_account(station: Station) -> Station:
    return Station.objects.select_related("account").get(pk=station.pk)


@extend_schema_view(
    list=extend_schema(
        summary="A station's entries, newest first",
        parameters=[OpenApiParameter("station_code", str, OpenApiParameter.PATH)],
    )
)
class AccountEntryViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """GET /api/accounts/{station_code}/entries/: every change of one account."""

    queryset = Entry.objects.none()  # for the schema; get_queryset scopes by station
    serializer_class = EntrySerializer
    pagination_class = NewestFirstCursorPagination
    filterset_class = EntryFilter
    ordering = ("-created_at", "-id")

    def get_queryset(self):
        readable = visible_to(Station.objects.all(), self.request.user, "pk")
        station = get_object_or_404(readable, code=self.kwargs["station_code"])
        return entries_of(station)
