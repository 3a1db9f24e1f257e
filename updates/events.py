"""The one place domain events leave the process.

`announce()` is what the flow calls: it defers `publish()` to `transaction.on_commit`, so a
rolled-back change announces nothing. `publish()` hands the event to the live stream.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
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

    def as_json(self) -> str:
        return json.dumps(self.payload, cls=DjangoJSONEncoder)


# Subscribers receive every published batch of events; the SSE layer registers itself here.
_subscribers: list[Callable[[list[DomainEvent]], None]] = []


def subscribe(subscriber: Callable[[list[DomainEvent]], None]) -> None:
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)


def publish(event: DomainEvent) -> None:
    publish_all([event])


def publish_all(batch: list[DomainEvent]) -> None:
    """Hand committed events to every subscriber. Called from transaction.on_commit only."""
    for event in batch:
        logger.debug("event %s %s", event.type, event.as_json())
    for subscriber in list(_subscribers):
        try:
            subscriber(batch)
        except Exception:  # a broken subscriber must not break the committed change
            logger.exception("event subscriber %r failed for %d events", subscriber, len(batch))


_batches = threading.local()


def announce(event: DomainEvent) -> None:
    """Publish `event` once the current transaction commits (at once outside a transaction).

    Inside `batch()`, the event joins the batch and leaves with it.
    """
    stack = getattr(_batches, "stack", None)
    if stack:
        stack[-1].append(event)
    else:
        transaction.on_commit(partial(publish_all, [event]))


@contextmanager
def batch():
    """Announce the events of one business operation together, after its commit.

    A trade announces four or five events; leaving together, they reach each client in one
    write instead of one write each. Use it around a whole `transaction.atomic()` block: if the
    block raises, the batch is dropped with it.
    """
    stack = _batches.__dict__.setdefault("stack", [])
    events: list[DomainEvent] = []
    stack.append(events)
    try:
        yield events
    finally:
        stack.pop()
    if events:
        if stack:
            stack[-1].extend(events)  # an enclosing batch publishes them
        else:
            transaction.on_commit(partial(publish_all, events))
