"""The one place domain events leave the process.

`announce()` is what the flow calls: it defers `publish()` to `transaction.on_commit`, so a
rolled-back change announces nothing. `publish()` hands the event to the live stream.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

logger = logging.getLogger("tradenet.events")

TRADE_INITIATED = "trade.initiated"
TRADE_STATUS_CHANGED = "trade.status_changed"
CARGO_CREATED = "cargo.created"
CARGO_UPDATED = "cargo.updated"
INVENTORY_CHANGED = "inventory.changed"

EVENT_TYPES = (
    TRADE_INITIATED,
    TRADE_STATUS_CHANGED,
    CARGO_CREATED,
    CARGO_UPDATED,
    INVENTORY_CHANGED,
)


@dataclass(frozen=True)
class DomainEvent:
    type: str
    payload: dict[str, Any]
    # Station codes the event concerns: who may see it, and which station streams carry it.
    stations: tuple[str, ...] = ()
    shipment_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> str:
        return json.dumps(self.payload, cls=DjangoJSONEncoder)


# Subscribers receive every published event; the SSE layer registers itself here.
_subscribers: list[Callable[[DomainEvent], None]] = []


def subscribe(subscriber: Callable[[DomainEvent], None]) -> None:
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)


def publish(event: DomainEvent) -> None:
    logger.debug("event %s %s", event.type, event.as_json())
    for subscriber in list(_subscribers):
        try:
            subscriber(event)
        except Exception:  # a broken subscriber must not break the committed change
            logger.exception("event subscriber %r failed for %s", subscriber, event.type)


def announce(event: DomainEvent) -> None:
    """Publish `event` once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(partial(publish, event))
