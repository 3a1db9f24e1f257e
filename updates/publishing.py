"""Hands committed domain events to django-eventstream: its storage (ids, replay), its Redis
transport across processes, and GRIP for a Pushpin edge."""

from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from django_eventstream import eventstream as upstream
from django_eventstream import utils as upstream_utils
from django_eventstream import views as upstream_views
from django_eventstream.utils import get_storage

from .events import DomainEvent
from .hub import CHANNEL


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

    for item in stored:
        upstream_utils.publish_event(
            CHANNEL, item.type, item.data, str(item.id), str(item.id - 1), blocking=False
        )
