"""The domain event bus: how a business operation says what changed.

Events are written to the outbox (`tradenet_outbox`) in the same transaction as the change that
causes them, in one multi-row INSERT per business operation. A rolled-back change therefore
leaves no event, and a committed change always has its events, even if the process dies the
instant after COMMIT. Nothing is sent anywhere from here: the relay (`updates.log.relay`) reads
committed outbox rows, gives them their public ids and delivers them.

    with transaction.atomic(), events.batch():
        ...                       # changes, each calling events.announce(...)
    # the batch's rows were inserted just before COMMIT, inside the transaction

Every event's type is registered here by the app that owns it (`register`, called from its
`events` module: its name, audience, rank in an operation and payload fields); a type the
registry does not hold is refused.

Every app may import this module; it imports no app.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules

from core.wakeups import wake

# The registry of event types: every type any code writes to the log or sends is registered by
# the app that owns it, in its `events` module (inventory/events.py, trades/events.py, ...),
# with what it is. The order of one operation's events, who may receive a type, the webhooks'
# and the admin's choices, the OpenAPI enum and the live page's list all derive from it
# (docs/architecture.md#event-types); an unregistered type is refused (`DomainEvent`).


@dataclass(frozen=True)
class EventType:
    name: str
    # Sent to clients and other systems (streams, the feed, webhooks); else the servers' own.
    public: bool
    # Its place among one operation's events (`order_in_operation`); None: never in the log.
    rank: int | None
    # The payload's fields, exactly; every consumer also gets `published_at` beside them.
    payload: tuple[str, ...]


REGISTRY: dict[str, EventType] = {}


def register(name: str, *, rank: int | None, payload: tuple[str, ...], public: bool = True) -> str:
    """Register the event type `name` and return it, for the owning app's constant.

    `rank` places it among one operation's events on the stream, whatever order the code
    announced them in (lower first; None: sent, never written to the log). Ranks follow the
    trade's flow: a client that sees a trade's event has already seen the stock, credits and
    shipment it refers to.
    """
    if name in REGISTRY:
        raise ValueError(f"{name} is registered twice")
    taken = {kind.rank: kind.name for kind in REGISTRY.values() if kind.rank is not None}
    if rank is not None and rank in taken:
        raise ValueError(f"{name}: rank {rank} is {taken[rank]}'s")
    REGISTRY[name] = EventType(name, public, rank, tuple(payload))
    for derived in (registered, order_in_operation, public_types, internal_types):
        derived.cache_clear()
    return name


# Each derived list is read on hot paths (every event of every stream asks whether it is
# internal): made once, and again only if a type is registered after.
@functools.cache
def registered() -> dict[str, EventType]:
    """Every app's event types: each installed app's `events` module imported, as the admin
    finds `admin` modules, so that no list depends on what happened to be imported first."""
    autodiscover_modules("events")
    return REGISTRY


@functools.cache
def order_in_operation() -> tuple[str, ...]:
    """The types of the log, in the order of one operation's events."""
    in_log = [kind for kind in registered().values() if kind.rank is not None]
    return tuple(kind.name for kind in sorted(in_log, key=lambda kind: kind.rank or 0))


@functools.cache
def public_types() -> tuple[str, ...]:
    """What clients and other systems receive, and so what a webhook endpoint may subscribe
    to: in the order of one operation, then the types never in the log."""
    ranked = order_in_operation()
    unranked = sorted(name for name, kind in registered().items() if kind.rank is None)
    return tuple(name for name in (*ranked, *unranked) if REGISTRY[name].public)


@functools.cache
def internal_types() -> frozenset[str]:
    """For the servers themselves, never shown to a client or sent to another system."""
    return frozenset(name for name, kind in registered().items() if not kind.public)


# The relay LISTENs here; writers' processes notify it after their commits (core/wakeups.py).
OUTBOX_CHANNEL = "tradenet_outbox"


class UnknownEventType(ValueError):
    """A type the registry does not hold, or holds as never written to the log."""


class OutsideTransaction(RuntimeError):
    """An event announced outside a transaction could be lost between the change and the event."""


@dataclass(frozen=True)
class DomainEvent:
    type: str
    payload: dict[str, Any]
    # Station codes the event concerns: who may see it, and which station streams carry it.
    stations: tuple[str, ...] = ()
    shipment_id: str | None = None

    def __post_init__(self) -> None:
        kind = REGISTRY.get(self.type)
        if kind is None or kind.rank is None:
            raise UnknownEventType(
                f"{self.type!r} is not an event type of the log: register it in its app's "
                "events module (core.events.register: its rank, audience and payload fields)."
            )

    def envelope(self, published_at: str) -> dict[str, Any]:
        return {
            "payload": self.payload,
            "stations": list(self.stations),
            "shipment_id": self.shipment_id,
            # The moment the change was written, just before its COMMIT: clients measure
            # delivery latency from it.
            "published_at": published_at,
        }


_batches = threading.local()


def _stack() -> list[list[DomainEvent]]:
    return _batches.__dict__.setdefault("stack", [])


def announce(event: DomainEvent) -> None:
    """Record `event` in the current transaction.

    Inside `batch()`, the event joins the batch and is written with it; otherwise it is written
    at once. Either way it commits or rolls back with the change.
    """
    stack = _stack()
    if stack:
        stack[-1].append(event)
    else:
        write_outbox([event])


@contextmanager
def batch() -> Iterator[list[DomainEvent]]:
    """Collect the events of one business operation and write them in one INSERT at the end.

    Enter it inside `transaction.atomic()`: the rows must be part of the transaction. If the
    block raises, its events are dropped with it. Nested batches join the outermost one.
    """
    stack = _stack()
    events: list[DomainEvent] = []
    stack.append(events)
    try:
        yield events
    finally:
        stack.pop()
    if stack:
        stack[-1].extend(events)
    elif events:
        write_outbox(in_operation_order(events))


def in_operation_order(events: list[DomainEvent]) -> list[DomainEvent]:
    """`events` by their types' ranks (a stable sort: one type keeps its announced order)."""
    return sorted(events, key=lambda event: REGISTRY[event.type].rank or 0)


def write_outbox(events: list[DomainEvent]) -> None:
    """Insert `events` into the outbox, in order, in the current transaction (one statement)."""
    if not events:
        return
    if not connection.in_atomic_block:
        raise OutsideTransaction(
            "Domain events must be announced inside transaction.atomic(), so that they commit "
            "or roll back with the change they describe."
        )
    published_at = timezone.now().isoformat()
    values = []
    params: list[str] = []
    for event in events:
        values.append("(%s, %s)")
        # Stored as django-eventstream stores an event's data (JSON text of the JSON text), so
        # the relay copies it as it is.
        encoded = json.dumps(event.envelope(published_at), cls=DjangoJSONEncoder)
        params += [event.type, json.dumps(encoded)]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO tradenet_outbox (type, data) VALUES " + ", ".join(values), params
        )
    # The relay is woken after the commit, never by a NOTIFY in this transaction, which would
    # make every writer's commit wait for every other's (core/wakeups.py).
    transaction.on_commit(wake_relay)


def wake_relay() -> None:
    wake(OUTBOX_CHANNEL)
