"""The domain event bus: how a business operation says what changed.

Events are written to the outbox (`tradenet_outbox`) in the same transaction as the change that
causes them, in one multi-row INSERT per business operation. A rolled-back change therefore
leaves no event, and a committed change always has its events, even if the process dies the
instant after COMMIT. Nothing is sent anywhere from here: the relay (`updates.log.relay`) reads
committed outbox rows, gives them their public ids and delivers them.

    with transaction.atomic(), events.batch():
        ...                       # changes, each calling events.announce(...)
    # the batch's rows were inserted just before COMMIT, inside the transaction

Every event's type is registered here (`REGISTRY`: its name, audience, rank in an operation
and payload fields); a type it does not hold is refused.

Every app may import this module; it imports no app.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

# The registry of event types: every type any code writes to the log or sends, named here once,
# with what it is. The order of one operation's events, who may receive a type, the webhooks'
# and the admin's choices, the OpenAPI enum and the live page's list all derive from it
# (docs/architecture.md#event-types); an unregistered type is refused (`DomainEvent`).


@dataclass(frozen=True)
class EventType:
    name: str
    # Sent to clients and other systems (streams, the feed, webhooks); else the servers' own.
    public: bool
    # Its place among one operation's events (`ORDER_IN_OPERATION`); None: never in the log.
    rank: int | None
    # The payload's fields, exactly; every consumer also gets `published_at` beside them.
    payload: tuple[str, ...]


REGISTRY: dict[str, EventType] = {}


def _register(
    name: str, *, payload: tuple[str, ...], public: bool = True, in_log: bool = True
) -> str:
    if name in REGISTRY:
        raise ValueError(f"{name} is registered twice")
    rank = sum(kind.rank is not None for kind in REGISTRY.values()) if in_log else None
    REGISTRY[name] = EventType(name, public, rank, payload)
    return name


_STOCK = ("station", "commodity", "on_hand", "incoming", "kind")
_ACCOUNT = ("station", "balance", "held", "incoming", "available", "credit_limit", "kind")
_SHIPMENT = (
    "shipment_id", "transaction_id", "status", "origin", "destination", "eta", "location_note",
    "departed_at", "delivered_at", "loss_reported_at", "loss_report_note",
)  # fmt: skip
_TRADE = (
    "transaction_id", "status", "seller", "buyer", "items", "total", "terms", "agreement",
    "settlement", "shipment_id",
)  # fmt: skip
_PROPOSAL = (
    "proposal_id", "status", "seller", "buyer", "proposed_by_side", "terms", "items", "total",
    "expires_at", "transaction_id",
)  # fmt: skip
_AGREEMENT = (
    "agreement_id", "buyer", "seller", "commodities", "max_unit_price", "max_trade_total",
    "max_outstanding", "allow_buyer_risk", "expires_at", "revoked_at",
)  # fmt: skip

# Registered in the order of one operation's events on the stream, whatever order its code
# announced them in: the stock first, then the credits, then the shipment, then the trade. So a
# client that sees a trade's event has already seen the stock, credits and shipment it refers
# to. Events of one type keep the order they were announced in.
INVENTORY_CHANGED = _register("inventory.changed", payload=_STOCK)
ACCOUNT_CHANGED = _register("account.changed", payload=_ACCOUNT)
CARGO_CREATED = _register("cargo.created", payload=_SHIPMENT)
CARGO_UPDATED = _register("cargo.updated", payload=_SHIPMENT)
CARGO_LOSS_REPORTED = _register("cargo.loss_reported", payload=_SHIPMENT)
TRADE_INITIATED = _register("trade.initiated", payload=_TRADE)
TRADE_STATUS_CHANGED = _register("trade.status_changed", payload=(*_TRADE, "previous_status"))
# A proposal's answer after the trade it placed; an agreement's change on its own.
PROPOSAL_CREATED = _register("proposal.created", payload=_PROPOSAL)
PROPOSAL_ACCEPTED = _register("proposal.accepted", payload=_PROPOSAL)
PROPOSAL_DECLINED = _register("proposal.declined", payload=_PROPOSAL)
PROPOSAL_WITHDRAWN = _register("proposal.withdrawn", payload=_PROPOSAL)
PROPOSAL_EXPIRED = _register("proposal.expired", payload=_PROPOSAL)
AGREEMENT_GRANTED = _register("agreement.granted", payload=_AGREEMENT)
AGREEMENT_REVOKED = _register("agreement.revoked", payload=_AGREEMENT)
# For the servers themselves, never shown to a client or sent to another system: credentials
# revoked (a token deleted, a session ended, a user deactivated). Written to the outbox in the
# revoking transaction, it reaches every server's streams in the log's order, so a stream of
# that credential is closed before anything committed after the revocation is written to it.
STREAM_REVOKED = _register("stream.revoked", payload=("user_id", "kind", "keys"), public=False)
# Not in the log: sent to one webhook endpoint when its owner asks for a test.
WEBHOOK_TEST = _register("webhook.test", payload=("message",), in_log=False)

_RANK = {kind.name: kind.rank for kind in REGISTRY.values() if kind.rank is not None}
ORDER_IN_OPERATION = tuple(_RANK)
# What clients and other systems receive, and so what a webhook endpoint may subscribe to.
PUBLIC = tuple(kind.name for kind in REGISTRY.values() if kind.public)
INTERNAL = frozenset(kind.name for kind in REGISTRY.values() if not kind.public)

# The relay LISTENs here; a notification is delivered only when the writing transaction commits.
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
        if self.type not in _RANK:
            raise UnknownEventType(
                f"{self.type!r} is not an event type of the log: register it in "
                "core.events.REGISTRY (with its rank, audience and payload fields)."
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
    """`events` in ORDER_IN_OPERATION (a stable sort)."""
    return sorted(events, key=lambda event: _RANK[event.type])


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
        # One round trip: the rows, and a wake-up for the relay that PostgreSQL delivers only
        # if and when this transaction commits.
        cursor.execute(
            "WITH written AS (INSERT INTO tradenet_outbox (type, data) VALUES "
            + ", ".join(values)
            + " RETURNING 1) SELECT pg_notify(%s, '')",
            [*params, OUTBOX_CHANNEL],
        )


def credential_digest(key: str) -> str:
    """What the log says of a credential: a digest, never the session key or token itself."""
    import hashlib

    return hashlib.sha256(f"tradenet-stream:{key}".encode()).hexdigest()


def revocation(*, user_id: int, kind: str | None = None, keys=()) -> DomainEvent:
    """A STREAM_REVOKED event: the streams of `user_id` opened with a `kind` of credential
    ("token" or "session"; None: any) whose key is among `keys` (none: every one) end."""
    return DomainEvent(
        type=STREAM_REVOKED,
        payload={
            "user_id": user_id,
            "kind": kind,
            "keys": sorted(credential_digest(key) for key in keys),
        },
    )
