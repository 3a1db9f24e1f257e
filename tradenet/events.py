"""The domain event bus: how a business operation says what changed.

Events are written to the outbox (`tradenet_outbox`) in the same transaction as the change that
causes them, in one multi-row INSERT per business operation. A rolled-back change therefore
leaves no event, and a committed change always has its events, even if the process dies the
instant after COMMIT. Nothing is sent anywhere from here: the relay (`updates.log.relay`) reads
committed outbox rows, gives them their public ids and delivers them.

    with transaction.atomic(), events.batch():
        ...                       # changes, each calling events.announce(...)
    # the batch's rows were inserted just before COMMIT, inside the transaction

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

TRADE_INITIATED = "trade.initiated"
TRADE_STATUS_CHANGED = "trade.status_changed"
CARGO_CREATED = "cargo.created"
CARGO_UPDATED = "cargo.updated"
INVENTORY_CHANGED = "inventory.changed"
ACCOUNT_CHANGED = "account.changed"
CARGO_LOSS_REPORTED = "cargo.loss_reported"
PROPOSAL_CREATED = "proposal.created"
PROPOSAL_ACCEPTED = "proposal.accepted"
PROPOSAL_DECLINED = "proposal.declined"
PROPOSAL_WITHDRAWN = "proposal.withdrawn"
PROPOSAL_EXPIRED = "proposal.expired"
AGREEMENT_GRANTED = "agreement.granted"
AGREEMENT_REVOKED = "agreement.revoked"
# For the servers themselves, never shown to a client or sent to another system: credentials
# revoked (a token deleted, a session ended, a user deactivated). Written to the outbox in the
# revoking transaction, it reaches every server's streams in the log's order, so a stream of
# that credential is closed before anything committed after the revocation is written to it.
STREAM_REVOKED = "stream.revoked"
INTERNAL = frozenset({STREAM_REVOKED})

# The relay LISTENs here; a notification is delivered only when the writing transaction commits.
OUTBOX_CHANNEL = "tradenet_outbox"

# The order of one operation's events on the stream, whatever order its code announced them
# in: the stock first, then the credits, then the shipment, then the trade. So a client that
# sees a trade's event has already seen the stock, credits and shipment it refers to. Events of
# one type keep the order they were announced in.
ORDER_IN_OPERATION = (
    INVENTORY_CHANGED,
    ACCOUNT_CHANGED,
    CARGO_CREATED,
    CARGO_UPDATED,
    CARGO_LOSS_REPORTED,
    TRADE_INITIATED,
    TRADE_STATUS_CHANGED,
    # A proposal's answer after the trade it placed; an agreement's change on its own.
    PROPOSAL_CREATED,
    PROPOSAL_ACCEPTED,
    PROPOSAL_DECLINED,
    PROPOSAL_WITHDRAWN,
    PROPOSAL_EXPIRED,
    AGREEMENT_GRANTED,
    AGREEMENT_REVOKED,
)


class OutsideTransaction(RuntimeError):
    """An event announced outside a transaction could be lost between the change and the event."""


@dataclass(frozen=True)
class DomainEvent:
    type: str
    payload: dict[str, Any]
    # Station codes the event concerns: who may see it, and which station streams carry it.
    stations: tuple[str, ...] = ()
    shipment_id: str | None = None

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
    """`events` in ORDER_IN_OPERATION (a stable sort; unknown types last)."""
    rank = {event_type: n for n, event_type in enumerate(ORDER_IN_OPERATION)}
    return sorted(events, key=lambda event: rank.get(event.type, len(rank)))


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
