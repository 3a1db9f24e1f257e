"""Reads of stations, stock and the ledger, as their callers (API, admin, streams) may see them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Prefetch, QuerySet

from .access import visible_to
from .errors import InsufficientStock
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


# Stock history, read from the ledger: every change of a bucket (on hand, incoming) is a row
# carrying the bucket's balance after it, so a level at a moment is the balance of the bucket's
# last row at or before it: one index probe per (commodity, bucket, moment).
LEVEL_AT = """
SELECT m.balance_after FROM inventory_stockmovement m
WHERE m.station_id = %(station)s AND m.commodity_id = {commodity} AND m.bucket = '{bucket}'
  AND m.created_at <= {at}
ORDER BY m.created_at DESC, m.id DESC LIMIT 1
"""

INTERVALS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
MAX_POINTS = 1000  # a year by the day, six weeks by the hour: each well under 100 ms


@dataclass(frozen=True)
class Level:
    commodity: str
    on_hand: int
    incoming: int


@dataclass(frozen=True)
class Point:
    at: datetime
    on_hand: int
    incoming: int


def levels_as_of(station: Station, at: datetime) -> list[Level]:
    """The station's stock of each commodity it has ever held, as it stood at `at`."""
    on_hand = LEVEL_AT.format(commodity="c.id", bucket="on_hand", at="%(at)s")
    incoming = LEVEL_AT.format(commodity="c.id", bucket="incoming", at="%(at)s")
    sql = f"""
        SELECT c.code, COALESCE(({on_hand}), 0), COALESCE(({incoming}), 0)
        FROM inventory_commodity c
        WHERE c.id IN (SELECT commodity_id FROM inventory_stocklevel WHERE station_id = %(station)s)
        ORDER BY c.code
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"station": station.pk, "at": at})
        return [Level(*row) for row in cursor.fetchall()]


def bucket_ends(start: datetime, end: datetime, interval: str) -> list[datetime]:
    """The end of every `interval` bucket (aligned in UTC) from `start` to `end`; the last
    one, still running at `end`, ends there."""
    step = INTERVALS[interval]
    first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if interval == "day":
        first = first.replace(hour=0)
    ends, at = [], first + step
    while at < end:
        ends.append(at)
        at += step
    ends.append(end)
    return ends


def stock_history(
    station: Station, commodity: Commodity, *, start: datetime, end: datetime, interval: str
) -> list[Point]:
    """The station's level of `commodity` at the end of each bucket between start and end."""
    on_hand = LEVEL_AT.format(commodity="%(commodity)s", bucket="on_hand", at="e.at")
    incoming = LEVEL_AT.format(commodity="%(commodity)s", bucket="incoming", at="e.at")
    sql = f"""
        SELECT e.at, COALESCE(({on_hand}), 0), COALESCE(({incoming}), 0)
        FROM unnest(%(ends)s::timestamptz[]) AS e(at)
        ORDER BY e.at
    """
    ends = bucket_ends(start, end, interval)
    with connection.cursor() as cursor:
        cursor.execute(sql, {"station": station.pk, "commodity": commodity.pk, "ends": ends})
        return [Point(*row) for row in cursor.fetchall()]
