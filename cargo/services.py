"""Shipment services: creation for a placed trade, and the status transitions that drive the rest.

A trade's lifecycle is its shipment's: SHIPMENT_TRANSITIONS is the one state machine, and the
trade's status follows it (TRADE_STATUS_FOR), here and nowhere else. Each change runs in one
transaction with the shipment row locked once: the stock moves, the trade follows, and the
tracking history gets its row, or nothing happens.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from cargo.events import CARGO_CREATED, CARGO_LOSS_REPORTED, CARGO_UPDATED
from core import events
from core.actors import Actor, user_or_none
from core.errors import require_transition
from core.limits import max_length
from core.written import as_saved
from inventory import services as inventory
from inventory.models import Station
from trades.models import Trade
from trades.services import trade_set_status

from .errors import ShipmentNotInTransit
from .models import Cargo, TrackingEvent

Status = Cargo.Status

SHIPMENT_TRANSITIONS: dict[str, set[str]] = {
    Status.PENDING: {Status.IN_TRANSIT, Status.CANCELLED},
    Status.IN_TRANSIT: {Status.DELIVERED, Status.LOST},
    Status.DELIVERED: set(),
    Status.CANCELLED: set(),
    Status.LOST: set(),
}

# What the trade is while its shipment is in a status.
TRADE_STATUS_FOR: dict[str, str] = {
    Status.PENDING: Trade.Status.INITIATED,
    Status.IN_TRANSIT: Trade.Status.IN_TRANSIT,
    Status.DELIVERED: Trade.Status.COMPLETED,
    Status.CANCELLED: Trade.Status.CANCELLED,
    Status.LOST: Trade.Status.FAILED,
}

# The trade's allowed moves, derived from its shipment's (for messages in the trade's terms).
TRADE_TRANSITIONS: dict[str, set[str]] = {
    TRADE_STATUS_FOR[current]: {TRADE_STATUS_FOR[target] for target in targets}
    for current, targets in SHIPMENT_TRANSITIONS.items()
}

MINIMUM_FLIGHT = timedelta(hours=1)


def shipment_id_for(trade: Trade) -> str:
    return f"shipment-{trade.transaction_id}"


def flight_time(origin: Station, destination: Station) -> timedelta:
    """Time to cover the distance at the configured cruising speed (light-years per day)."""
    speed = settings.TRADENET_CRUISING_SPEED_LY_PER_DAY
    return max(MINIMUM_FLIGHT, timedelta(days=origin.distance_to(destination) / speed))


def shipment_create_for_trade(*, trade: Trade, actor: Actor = None) -> Cargo:
    now = timezone.now()
    shipment = Cargo(
        shipment_id=shipment_id_for(trade),
        trade=trade,
        origin=trade.seller,
        destination=trade.buyer,
        eta=now + flight_time(trade.seller, trade.buyer),
        created_at=now,
        updated_at=now,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            CREATE,
            {
                "shipment_id": shipment.shipment_id,
                "trade": trade.pk,
                "origin": shipment.origin_id,
                "destination": shipment.destination_id,
                "status": shipment.status,
                "eta": shipment.eta,
                "now": now,
                "note": "shipment created",
                "actor": getattr(user_or_none(actor), "pk", None),
            },
        )
        [(pk,)] = cursor.fetchall()
    as_saved(shipment, pk)
    events.announce(_event(CARGO_CREATED, shipment))
    return shipment


# A new shipment and the first row of its tracking history, in one statement (the two ORM
# creates were a thirteenth of a worker's time answering trades, and a round trip).
CREATE = f"""
WITH shipment AS (
    INSERT INTO {Cargo._meta.db_table}
        (shipment_id, trade_id, origin_id, destination_id, status, eta, location_note,
         departed_at, delivered_at, created_at, updated_at)
    VALUES (%(shipment_id)s, %(trade)s, %(origin)s, %(destination)s, %(status)s, %(eta)s, '',
            NULL, NULL, %(now)s, %(now)s)
    RETURNING id
)
INSERT INTO {TrackingEvent._meta.db_table}
    (cargo_id, from_status, to_status, note, actor_id, created_at)
SELECT id, '', %(status)s, %(note)s, %(actor)s::bigint, %(now)s FROM shipment
RETURNING cargo_id
"""


def allowed_transitions(shipment: Cargo) -> list[str]:
    return sorted(SHIPMENT_TRANSITIONS.get(shipment.status, set()))


def shipment_update(
    *,
    shipment: Cargo,
    actor: Actor = None,
    status: str | None = None,
    eta: datetime | None = None,
    location_note: str | None = None,
    note: str = "",
    precondition: Callable[[Cargo], None] | None = None,
) -> Cargo:
    """Change a shipment's status, ETA or location note; a status change follows the rules.

    `precondition(locked)` runs once the row is locked and before anything changes (an If-Match
    check): raising there changes nothing.
    """
    with transaction.atomic(), events.batch():
        locked = _lock(pk=shipment.pk)
        if precondition is not None:
            precondition(locked)
        _apply(locked, actor, status, eta, location_note, note)
    # Callers keep using the instance they passed in.
    for field in ("status", "eta", "location_note", "departed_at", "delivered_at", "updated_at"):
        setattr(shipment, field, getattr(locked, field))
    return shipment


def trade_cancel(
    *,
    trade: Trade,
    actor: Actor = None,
    note: str = "",
    precondition: Callable[[Cargo], None] | None = None,
) -> Trade:
    """Cancel a trade whose goods have not left: its shipment is cancelled, the stock returns,
    and the trade follows. Refused, in the trade's terms, once the goods have left."""
    with transaction.atomic(), events.batch():
        locked = _lock(trade=trade)
        if precondition is not None:  # what the caller read first: a stale view is a 412
            precondition(locked)
        require_transition(
            subject=f"Trade {trade.transaction_id}",
            current=TRADE_STATUS_FOR[locked.status],
            requested=Trade.Status.CANCELLED,
            transitions=TRADE_TRANSITIONS,
        )
        _apply(locked, actor, Status.CANCELLED, None, None, note or "trade cancelled")
    trade.refresh_from_db()
    return trade


def shipment_report_loss(*, shipment: Cargo, actor: Actor = None, note: str = "") -> Cargo:
    """Say that a departed shipment may be lost: shown on the shipment and announced to both
    ends, so the end that decides the loss (cargo.access) hears of it. Moves no credits and no
    stock; the last report stands (reporting again updates it)."""
    with transaction.atomic(), events.batch():
        locked = _lock(pk=shipment.pk)
        if locked.status != Status.IN_TRANSIT:
            raise ShipmentNotInTransit(
                f"Shipment {locked.shipment_id} is {locked.status}: only a shipment in transit "
                "can be reported lost.",
                current=locked.status,
            )
        locked.loss_reported_at = timezone.now()
        locked.loss_reported_by = user_or_none(actor)
        locked.loss_report_note = note[: max_length(Cargo, "loss_report_note")]
        locked.save(
            update_fields=["loss_reported_at", "loss_reported_by", "loss_report_note", "updated_at"]
        )
        events.announce(_event(CARGO_LOSS_REPORTED, locked))
    return locked


def _lock(**lookup: Any) -> Cargo:
    """The shipment row, locked for this transaction: the one lock every change takes. Only
    that row (`of=self`): FOR UPDATE on the joined stations as well would block every other
    transaction's foreign key checks on them (stock and credits entries), and deadlock."""
    return (
        Cargo.objects.select_for_update(of=("self",))
        .select_related("trade__agreement", "origin", "destination")
        .get(**lookup)
    )


def _apply(
    locked: Cargo,
    actor: Actor,
    status: str | None,
    eta: datetime | None,
    location_note: str | None,
    note: str,
) -> None:
    if eta is not None and eta != locked.eta:
        shipment_check_eta(shipment=locked, eta=eta, status=status)
    changed = []
    if status is not None and status != locked.status:
        _transition(locked, status, actor, note or location_note or "")
        changed += ["status", "departed_at", "delivered_at", "eta"]
    if eta is not None and eta != locked.eta:
        locked.eta = eta
        changed.append("eta")
    if location_note is not None and location_note != locked.location_note:
        locked.location_note = location_note
        changed.append("location_note")
    if changed:
        locked.save(update_fields=[*changed, "updated_at"])
        events.announce(_event(CARGO_UPDATED, locked))


def shipment_check_eta(*, shipment: Cargo, eta: datetime, status: str | None = None) -> None:
    """An ETA is a moment the goods can still arrive: never before they departed, and, while
    they wait to depart, not in the past (the shipment would be overdue the moment it left).
    Checked before anything changes, so a refused ETA leaves the shipment as it was."""
    now = timezone.now()
    becomes = status or shipment.status
    departing = becomes == Status.IN_TRANSIT and shipment.status == Status.PENDING
    departed = now if departing else shipment.departed_at
    when = f"{eta.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    if departed is not None and eta < departed:
        since = f"{departed.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        raise ValidationError(
            {"eta": [f"The ETA {when} is before the shipment departed ({since})."]},
            code="eta_before_departure",
        )
    if becomes == Status.PENDING and eta < now:
        raise ValidationError(
            {"eta": [f"The ETA {when} is in the past, and the shipment has not left yet."]},
            code="eta_in_past",
        )


def _transition(shipment: Cargo, status: str, actor: Actor, note: str) -> None:
    require_transition(
        subject=f"Shipment {shipment.shipment_id}",
        current=shipment.status,
        requested=status,
        transitions=SHIPMENT_TRANSITIONS,
    )
    now = timezone.now()
    if status == Status.IN_TRANSIT:
        shipment.departed_at = now
        # The clock starts at departure, not at booking.
        shipment.eta = now + flight_time(shipment.origin, shipment.destination)
    elif status == Status.DELIVERED:
        shipment.delivered_at = now
        inventory.stock_receive_shipment(shipment=shipment, actor=actor)
    elif status == Status.CANCELLED:
        inventory.stock_return_shipment(shipment=shipment, actor=actor)
    elif status == Status.LOST:
        inventory.stock_write_off_shipment(shipment=shipment, actor=actor)
    previous = shipment.status
    shipment.status = status
    trade_set_status(trade=shipment.trade, status=TRADE_STATUS_FOR[status], actor=actor)
    _track(shipment, previous, status, actor, note)


def _track(shipment: Cargo, previous: str, status: str, actor: Actor, note: str) -> None:
    TrackingEvent.objects.create(
        cargo=shipment,
        from_status=previous,
        to_status=status,
        actor=user_or_none(actor),
        note=note[: max_length(TrackingEvent, "note")],
    )


def shipment_event_payload(shipment: Cargo) -> dict[str, Any]:
    return {
        "shipment_id": shipment.shipment_id,
        "transaction_id": shipment.trade.transaction_id,
        "status": shipment.status,
        "origin": shipment.origin.code,
        "destination": shipment.destination.code,
        "eta": shipment.eta,
        "location_note": shipment.location_note,
        "departed_at": shipment.departed_at,
        "delivered_at": shipment.delivered_at,
        "loss_reported_at": shipment.loss_reported_at,
        "loss_report_note": shipment.loss_report_note,
    }


def _event(event_type: str, shipment: Cargo) -> events.DomainEvent:
    return events.DomainEvent(
        type=event_type,
        payload=shipment_event_payload(shipment),
        stations=(shipment.origin.code, shipment.destination.code),
        shipment_id=shipment.shipment_id,
    )
