"""Reads of stations, stock and the ledger, as their callers (API, admin, streams) may see them."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Prefetch, QuerySet

from tradenet.errors import InsufficientStock

from .access import visible_to
from .models import Commodity, Station, StockLevel, StockMovement


def inventories_visible_to(user) -> QuerySet[Station]:
    """The stations whose stock `user` may read (their operators', every one for dispatch
    staff), each with its stock levels and their commodities in two queries."""
    levels = StockLevel.objects.select_related("commodity").order_by("commodity__code")
    stations = Station.objects.prefetch_related(Prefetch("stock_levels", queryset=levels))
    return visible_to(stations, user, "pk")


def ledger_of(station: Station) -> QuerySet[StockMovement]:
    """A station's ledger with what its representation names, newest first."""
    return StockMovement.objects.filter(station=station).select_related(
        "station", "commodity", "trade", "shipment", "actor"
    )


def stock_shortfalls(
    *, station: Station, wanted: Iterable[tuple[Commodity, int]]
) -> list[InsufficientStock]:
    """What `station` lacks for `wanted` (commodity, quantity) pairs, read in one query, as the
    errors the stock services would raise: a form can show them before anything is tried."""
    wanted = list(wanted)
    on_hand = dict(
        StockLevel.objects.filter(
            station=station, commodity__in=[commodity for commodity, _ in wanted]
        ).values_list("commodity_id", "on_hand")
    )
    return [
        InsufficientStock(
            station=station.code,
            commodity=commodity.code,
            requested=quantity,
            available=on_hand.get(commodity.pk, 0),
        )
        for commodity, quantity in wanted
        if quantity > on_hand.get(commodity.pk, 0)
    ]
