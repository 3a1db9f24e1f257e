"""Who may read a shipment, and which station's operators may move it to which status."""

from __future__ import annotations

from inventory.access import may_act_for

from .models import Cargo

Status = Cargo.Status


def stations_deciding(shipment: Cargo, status: str | None) -> list:
    """Departure and cancellation are the origin's call, delivery the destination's, and a loss
    the call of the end that bears it: the seller's (the origin) under seller_risk, the
    buyer's (the destination) under buyer_risk. The other end may only report a suspected loss
    (cargo.services.shipment_report_loss). A change of ETA or location either end may make."""
    if status in (Status.IN_TRANSIT, Status.CANCELLED):
        return [shipment.origin_id]
    if status == Status.DELIVERED:
        return [shipment.destination_id]
    if status == Status.LOST:
        bears = shipment.trade.terms == shipment.trade.Terms.BUYER_RISK
        return [shipment.destination_id if bears else shipment.origin_id]
    return [shipment.origin_id, shipment.destination_id]


def may_update_shipment(user, shipment: Cargo, status: str | None = None) -> bool:
    return any(may_act_for(user, station_id) for station_id in stations_deciding(shipment, status))


def may_read_shipment(user, shipment: Cargo) -> bool:
    """Its origin's and its destination's operators, and dispatch staff: the rule of
    `cargo.selectors.shipments_visible_to`, for one shipment in hand (the shipment stream)."""
    return may_act_for(user, shipment.origin_id) or may_act_for(user, shipment.destination_id)
