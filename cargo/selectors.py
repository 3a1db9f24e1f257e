"""Reads of shipments, as the API's callers may see them."""

from __future__ import annotations

from django.db.models import QuerySet

from inventory.access import visible_to

from .models import Cargo


def shipments_visible_to(user) -> QuerySet[Cargo]:
    """Shipments whose origin or destination `user` operates (all of them for dispatch staff)."""
    shipments = Cargo.objects.select_related("trade", "origin", "destination").prefetch_related(
        "trade__lines__commodity"
    )
    return visible_to(shipments, user, "origin_id", "destination_id")
