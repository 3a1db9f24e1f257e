"""/api/webhooks/: an operator's endpoints, their delivery log, redelivery, a test event, and
secret rotation. Every endpoint is its owner's (dispatch staff see all of them)."""

from __future__ import annotations

import contextlib

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core import events
from core.api.serializers import StrictModelInputSerializer
from inventory.access import may_act_for
from inventory.models import Station
from updates.integrations.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from updates.integrations.webhooks.security import RefusedTarget
from updates.integrations.webhooks.selectors import endpoints_visible_to
from updates.integrations.webhooks.services import (
    endpoint_create,
    endpoint_delete,
    endpoint_rotate_secret,
    endpoint_update,
    redeliver,
    send_test_event,
)

MAX_STATIONS = 100  # an endpoint naming more wants them all: leave `stations` empty


class StationCodes(serializers.ListField):
    """Station codes in, the stations out, all of them read in one query (a related field
    reads one per code); at most `MAX_STATIONS`. Shown as the codes."""

    child = serializers.CharField(max_length=64)

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_STATIONS)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        codes = list(dict.fromkeys(super().to_internal_value(data)))  # bounded, strings
        found = {station.code: station for station in Station.objects.filter(code__in=codes)}
        unknown = [code for code in codes if code not in found]
        if unknown:
            raise serializers.ValidationError(f"No station {', '.join(unknown)}.")
        return [found[code] for code in codes]

    def to_representation(self, value):
        return [station.code for station in value.all()]  # prefetched by the selectors


class WebhookEndpointSerializer(StrictModelInputSerializer):
    event_types = serializers.ListField(
        child=serializers.ChoiceField(
            choices=events.public_types(),
            error_messages={"invalid_choice": '"{input}" is not an event type to subscribe to.'},
        ),
        required=False,
        default=list,
    )
    stations = StationCodes(required=False)

    class Meta:
        model = WebhookEndpoint
        fields = (
            "id", "url", "event_types", "stations", "is_active", "disabled_reason",
            "failing_since", "created_at",
        )  # fmt: skip
        read_only_fields = ("disabled_reason", "failing_since", "created_at")

    def validate_stations(self, stations):
        user = self.context["request"].user
        foreign = [s.code for s in stations if not may_act_for(user, s)]
        if foreign:
            raise serializers.ValidationError(
                f"You do not operate {', '.join(sorted(foreign))}: an endpoint gets only the "
                "events of stations its owner operates."
            )
        return stations


@contextlib.contextmanager
def refused_target_is_400():
    """The target guard runs once, in the service; its refusal is the caller's 400 on `url`."""
    try:
        yield
    except RefusedTarget as exc:
        raise serializers.ValidationError({"url": [str(exc)]}) from None


class CreatedEndpointSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown this once.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = (*WebhookEndpointSerializer.Meta.fields, "secret")


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ("attempted_at", "status_code", "duration_ms", "response_excerpt", "error")


class DeliverySerializer(serializers.ModelSerializer):
    attempt_log = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = (
            "id", "message_id", "event_type", "state", "attempts", "next_attempt_at",
            "created_at", "attempt_log",
        )  # fmt: skip


Secret = inline_serializer("WebhookSecret", fields={"secret": serializers.CharField()})


class WebhookEndpointViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = WebhookEndpointSerializer
    ordering_fields = ("created_at",)
    ordering = ("-created_at", "-id")
    filterset_fields = ("is_active",)

    queryset = WebhookEndpoint.objects.none()  # for the schema; get_queryset scopes by owner

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WebhookEndpoint.objects.none()
        return endpoints_visible_to(self.request.user)  # another's endpoint is a 404

    @extend_schema(responses={201: CreatedEndpointSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with refused_target_is_400():
            endpoint, secret = endpoint_create(owner=request.user, **serializer.validated_data)
        body = CreatedEndpointSerializer(endpoint, context={"request": request}).data
        return Response({**body, "secret": secret}, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        endpoint_delete(endpoint=instance)

    def perform_update(self, serializer):
        with refused_target_is_400():
            endpoint_update(endpoint=serializer.instance, **serializer.validated_data)

    @extend_schema(request=None, responses={200: Secret})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        secret = endpoint_rotate_secret(endpoint=self.get_object())
        return Response({"secret": secret})

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        delivery = send_test_event(endpoint=self.get_object())
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=DeliverySerializer(many=True), filters=False)
    @action(detail=True, methods=["get"], filter_backends=[])
    def deliveries(self, request, pk=None):
        endpoint = self.get_object()
        deliveries = endpoint.deliveries.prefetch_related("attempt_log").order_by("-id")
        page = self.paginate_queryset(deliveries)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(
        detail=True,
        methods=["post"],
        url_path=r"deliveries/(?P<delivery_id>\d+)/redeliver",
        filter_backends=[],
    )
    def redeliver(self, request, pk=None, delivery_id=None):
        delivery = get_object_or_404(self.get_object().deliveries, pk=delivery_id)
        redeliver(delivery=delivery)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
