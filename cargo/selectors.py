"""Reads of shipments, as the API's callers may see them."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from inventory.access import visible_to

from .models import Cargo, TrackingEvent


def shipments_visible_to(user) -> QuerySet[Cargo]:
    """Shipments whose origin or destination `user` operates (all of them for dispatch staff)."""
    shipments = Cargo.objects.select_related(
        "trade", "origin", "destination", "loss_reported_by"
    ).prefetch_related("trade__lines__commodity")
    return visible_to(shipments, user, "origin_id", "destination_id")


def shipments_by_status() -> dict[str, int]:
    """How many shipments are in each status, every status named (zero included)."""
    counts = dict(Cargo.objects.order_by().values_list("status").annotate(n=Count("id")))
    return {status: counts.get(status, 0) for status, _ in Cargo.Status.choices}


def tracking_history(shipment: Cargo) -> QuerySet[TrackingEvent]:
    """A shipment's status changes, oldest first, with who made them."""
    return TrackingEvent.objects.filter(cargo=shipment).select_related("actor")
