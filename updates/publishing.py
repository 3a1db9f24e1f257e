"""Hands committed domain events to django-eventstream: its storage (ids, replay), its Redis
transport across processes, and GRIP for a Pushpin edge."""

from __future__ import annotations

import json
import logging

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from django_eventstream import eventstream as upstream
from django_eventstream import views as upstream_views
from django_eventstream.utils import get_storage

from . import grip, notify
from .events import DomainEvent
from .hub import CHANNEL, StoredEvent

logger = logging.getLogger(__name__)


def publish_to_streams(batch: list[DomainEvent]) -> None:
    """django-eventstream's send_event, for a whole batch: store every event, then hand them
    over together, so that each stream writes them to its client in one go."""
    storage = get_storage()
    stored = []
    for event in batch:
        envelope = {
            "payload": event.payload,
            "stations": list(event.stations),
            "shipment_id": event.shipment_id,
            # When the change became visible: clients measure delivery latency from it.
            "published_at": timezone.now().isoformat(),
        }
        data = json.dumps(envelope, cls=DjangoJSONEncoder)
        stored.append(storage.append_event(CHANNEL, event.type, data))

    if upstream.redis_client is not None:
        with upstream.redis_client.pipeline(transaction=False) as pipe:
            for item in stored:
                message = {
                    "channel": CHANNEL,
                    "event_type": item.type,
                    "data": item.data,
                    "pub_id": str(item.id),
                }
                pipe.publish("events_channel", json.dumps(message))
            pipe.execute()
    else:
        manager = upstream_views.get_listener_manager()
        for item in stored:
            manager.add_to_queues(CHANNEL, item)
        if stored:
            notify.notify(max(int(item.id) for item in stored))

    if grip.enabled():
        try:
            grip.publish([StoredEvent.from_eventstream(item) for item in stored])
        except Exception:  # Pushpin down: its clients resume from storage on reconnect
            logger.exception("publishing %d events to Pushpin failed", len(stored))
