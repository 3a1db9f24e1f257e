"""Hands committed domain events to django-eventstream (storage, Redis, GRIP)."""

from __future__ import annotations

from django.utils import timezone
from django_eventstream import send_event

from .events import DomainEvent
from .hub import CHANNEL


def publish_to_streams(event: DomainEvent) -> None:
    envelope = {
        "payload": event.payload,
        "stations": list(event.stations),
        "shipment_id": event.shipment_id,
        # When the change became visible: clients measure delivery latency from it.
        "published_at": timezone.now().isoformat(),
    }
    send_event(CHANNEL, event.type, envelope)
