"""Who may read a shipment, and which station's operators may move it to which status."""

from __future__ import annotations

from inventory.access import may_act_for

from .models import Cargo

Status = Cargo.Status


def stations_deciding(shipment: Cargo, status: str | None) -> list:
    """Departure and cancellation are the origin's call, delivery the destination's; a loss or a
    change of ETA or location may be reported by either end."""
    if status in (Status.IN_TRANSIT, Status.CANCELLED):
        return [shipment.origin_id]
    if status == Status.DELIVERED:
        return [shipment.destination_id]
    return [shipment.origin_id, shipment.destination_id]


def may_update_shipment(user, shipment: Cargo, status: str | None = None) -> bool:
    return any(may_act_for(user, station_id) for station_id in stations_deciding(shipment, status))


def may_read_shipment(user, shipment: Cargo) -> bool:
    """Its origin's and its destination's operators, and dispatch staff: the rule of
    `cargo.selectors.shipments_visible_to`, for one shipment in hand (the shipment stream)."""
    return may_act_for(user, shipment.origin_id) or may_act_for(user, shipment.destination_id)
