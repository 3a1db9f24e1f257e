from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from core.api.errors import error_response
from core.api.etag import ETagMixin
from core.api.headers import idempotency_key
from core.errors import DomainError
from core.replica import ReplicaReadsMixin
from credits.disclosure import as_told_to

from . import idempotency
from .consent import require_operator
from .filters import TradeFilter
from .selectors import trades_visible_to
from .serializers import TradeCreateSerializer, TradeSerializer
from .services import trade_initiate

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Retries with the same key and body return the first answer and create nothing "
    "(kept 24 hours, per user). The same key with another body gets 422.",
)


@extend_schema_view(
    list=extend_schema(summary="List trades, newest first"),
    retrieve=extend_schema(summary="One trade, with its lines and shipment (carries an ETag)"),
)
class TradeViewSet(
    ReplicaReadsMixin,
    ETagMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = TradeSerializer
    lookup_field = "transaction_id"
    filterset_class = TradeFilter
    ordering_fields = ("created_at",)
    ordering = ("-created_at", "-id")

    def get_queryset(self):
        # A trade the caller may not read answers 404, as one that does not exist.
        return trades_visible_to(self.request.user)

    def get_serializer_class(self):
        if self.action == "create":
            return TradeCreateSerializer
        return TradeSerializer

    @extend_schema(
        summary="Initiate a trade",
        parameters=[IDEMPOTENCY_KEY],
        request=TradeCreateSerializer,
        responses={201: TradeSerializer, 403: None, 409: None, 422: None},
        description="The caller operates the seller. The buyer consents through the caller "
        "(its operator, or dispatch staff) or a standing agreement it granted the seller "
        "(/api/agreements/); otherwise 403 consent_required: propose it (/api/proposals/).",
    )
    def create(self, request, *args, **kwargs):
        serializer = TradeCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # Before the idempotency key is claimed: a stranger's request leaves nothing behind.
        require_operator(request.user, serializer.validated_data["seller"], "selling")
        key = idempotency_key(request)
        if key is None:
            return self._initiate(serializer)
        with transaction.atomic():
            record, replay = idempotency.claim(
                user=request.user,
                key=key,
                request_fingerprint=idempotency.fingerprint(request.path, request.data),
            )
            if replay:
                response = Response(record.response_body, status=record.response_status)
                response["Idempotent-Replayed"] = "true"
                return response
            response = self._initiate(serializer)
            idempotency.remember(record, response.status_code, response.data)
            return response

    def _initiate(self, serializer) -> Response:
        data = serializer.validated_data
        try:
            # The trade's own transaction; under an Idempotency-Key, a savepoint in the key's
            # transaction, so a refused trade leaves nothing but the 409 to replay.
            trade = trade_initiate(
                seller=data["seller"],
                buyer=data["buyer"],
                lines=serializer.line_specs(),
                actor=self.request.user,
                terms=data["terms"],
            )
        except DomainError as exc:
            exc = as_told_to(self.request.user, exc)  # a buyer's figures are its own business
            return error_response(exc.http_status, exc.message, exc.code, detail=exc.detail)
        # The trade carries its stations, lines and shipment: no need to read it back.
        return Response(TradeSerializer(trade).data, status=status.HTTP_201_CREATED)
