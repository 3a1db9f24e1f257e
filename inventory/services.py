"""Every change of stock goes through this module.

Levels and the ledger are written together, under row locks taken in one fixed order (StockLevel
primary key), so concurrent trades over the same stock serialise instead of overselling or
deadlocking. The CHECK constraints on StockLevel are the last line of defence behind the locks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.contrib.auth.models import Group, Permission, User
from django.db import connection, transaction
from django.utils import timezone

from core import events
from core.actors import Actor, user_or_none
from core.written import as_saved
from inventory.events import INVENTORY_CHANGED

from .errors import InsufficientStock
from .models import Commodity, Station, StockLevel, StockMovement

Bucket = StockMovement.Bucket
Kind = StockMovement.Kind
Levels = dict[tuple[int, int], StockLevel]  # locked, by (station, commodity)


# A Trade and a Cargo as stock sees them: from the apps above this one, which it does not import.
class MovedLine(Protocol):
    commodity: Commodity
    quantity: int


class MovedTrade(Protocol):
    pk: Any
    seller: Station
    buyer: Station

    def line_items(self) -> Sequence[MovedLine]: ...


class MovedShipment(Protocol):
    pk: Any
    origin: Station
    destination: Station

    @property  # read-only: a Trade is a MovedTrade, and need be no more
    def trade(self) -> MovedTrade: ...


@dataclass(frozen=True)
class StockChange:
    station: Station
    commodity: Commodity
    bucket: str  # StockMovement.Bucket
    delta: int


def stock_apply(
    changes: Sequence[StockChange],
    *,
    kind: str,
    actor: Actor = None,
    trade: MovedTrade | None = None,
    shipment: MovedShipment | None = None,
    reason: str = "",
) -> list[StockMovement]:
    """Apply `changes` atomically: all of them or none, each with its ledger row.

    Raises InsufficientStock naming the first commodity whose level would go below zero.
    """
    changes = [c for c in changes if c.delta]
    if not changes:
        return []
    # No savepoint: a refusal aborts the caller's whole operation, never a part of it.
    with transaction.atomic(savepoint=False), events.batch():
        levels = _lock_levels({(c.station.pk, c.commodity.pk) for c in changes})
        # Check everything before writing anything, so the error names what the caller asked.
        _refuse_shortfall(changes, levels)
        now = timezone.now()
        movements = _moved(
            changes,
            levels,
            now,
            kind=kind,
            trade=trade,
            shipment=shipment,
            actor=user_or_none(actor),
            reason=reason,
        )
        touched = {(c.station.pk, c.commodity.pk): c for c in changes}
        _write(movements, [levels[key] for key in touched], now)
        _announce(touched, levels, kind)
        return movements


def _refuse_shortfall(changes: list[StockChange], levels: Levels) -> None:
    """Raise InsufficientStock for the first (station, commodity, bucket) that the changes to
    it, summed, would take below zero."""
    pending: dict[tuple[int, int, str], int] = defaultdict(int)
    for change in changes:
        pending[(change.station.pk, change.commodity.pk, change.bucket)] += change.delta
    for (station_id, commodity_id, bucket), delta in pending.items():
        level = levels[(station_id, commodity_id)]
        available = getattr(level, bucket)
        if available + delta < 0:
            change = next(
                c
                for c in changes
                if (c.station.pk, c.commodity.pk, c.bucket) == (station_id, commodity_id, bucket)
            )
            raise InsufficientStock(
                station=change.station.code,
                commodity=change.commodity.code,
                requested=-delta,
                available=available,
            )


def _moved(
    changes: list[StockChange],
    levels: Levels,
    now: datetime,
    *,
    kind: str,
    trade: MovedTrade | None,
    shipment: MovedShipment | None,
    actor: User | None,
    reason: str,
) -> list[StockMovement]:
    """Each change applied to its locked level in memory (`_write` then writes the levels), and
    the ledger row that records it."""
    movements = []
    for change in changes:
        level = levels[(change.station.pk, change.commodity.pk)]
        balance = getattr(level, change.bucket) + change.delta
        setattr(level, change.bucket, balance)
        level.updated_at = now
        movements.append(
            StockMovement(  # type: ignore[misc]  # its trade and shipment, as protocols
                station=change.station,
                commodity=change.commodity,
                bucket=change.bucket,
                delta=change.delta,
                balance_after=balance,
                kind=kind,
                trade=trade,
                shipment=shipment,
                actor=actor,
                reason=reason,
                created_at=now,
            )
        )
    return movements


def _announce(touched: dict[tuple[int, int], StockChange], levels: Levels, kind: str) -> None:
    """An inventory.changed event per level the operation wrote, with its new figures."""
    for key, change in touched.items():
        level = levels[key]
        events.announce(
            events.DomainEvent(
                type=INVENTORY_CHANGED,
                payload={
                    "station": change.station.code,
                    "commodity": change.commodity.code,
                    "on_hand": level.on_hand,
                    "incoming": level.incoming,
                    "kind": kind,
                },
                stations=(change.station.code,),
            )
        )


# The two statements every stock move runs are written out: the ORM spends more CPU building
# them (an OR of conditions, bulk_update's CASE per column, bulk_create's per-object
# preparation) than PostgreSQL spends running them, on the hottest path of the product. The
# second writes the levels and their ledger rows at once (one round trip).
_LEVEL_COLUMNS = [field.attname for field in StockLevel._meta.concrete_fields]
LOCK_LEVELS = f"""
SELECT {", ".join(_LEVEL_COLUMNS)} FROM {StockLevel._meta.db_table}
WHERE (station_id, commodity_id) IN (SELECT * FROM unnest(%s::bigint[], %s::bigint[]))
ORDER BY id
FOR UPDATE
"""
WRITE = f"""
WITH levels AS (
    UPDATE {StockLevel._meta.db_table} AS level
    SET on_hand = new.on_hand, incoming = new.incoming, updated_at = %(now)s
    FROM unnest(%(level)s::bigint[], %(on_hand)s::bigint[], %(incoming)s::bigint[])
        AS new(id, on_hand, incoming)
    WHERE level.id = new.id
)
INSERT INTO {StockMovement._meta.db_table}
    (station_id, commodity_id, bucket, delta, balance_after,
     kind, trade_id, shipment_id, actor_id, reason, created_at)
SELECT m.station_id, m.commodity_id, m.bucket, m.delta, m.balance_after,
    %(kind)s, %(trade)s::bigint, %(shipment)s::bigint, %(actor)s::bigint, %(reason)s, %(now)s
FROM unnest(%(station)s::bigint[], %(commodity)s::bigint[], %(bucket)s::text[],
    %(delta)s::bigint[], %(balance_after)s::bigint[])
    AS m(station_id, commodity_id, bucket, delta, balance_after)
RETURNING id
"""


def _lock_levels(keys: Iterable[tuple[int, int]]) -> Levels:
    keys = sorted(keys)
    params = [[s for s, _ in keys], [c for _, c in keys]]
    levels = _locked(params)
    if len(levels) < len(keys):
        # A station's first stock of a commodity. Rows inserted in sorted order: two
        # transactions creating the same missing rows wait on each other in the same order
        # rather than deadlocking. Then lock them like the others.
        StockLevel.objects.bulk_create(
            [StockLevel(station_id=s, commodity_id=c) for s, c in keys if (s, c) not in levels],
            ignore_conflicts=True,
        )
        levels = _locked(params)
    return levels


def _locked(params: list[list[int]]) -> Levels:
    # Rows made into instances as the ORM does (Model.from_db), without a RawQuerySet's
    # per-query column mapping, which was half of stock_apply's time in a worker's profile.
    with connection.cursor() as cursor:
        cursor.execute(LOCK_LEVELS, params)
        rows = cursor.fetchall()
    levels = (StockLevel.from_db(connection.alias, _LEVEL_COLUMNS, row) for row in rows)
    return {(level.station_id, level.commodity_id): level for level in levels}


def _write(movements: list[StockMovement], levels: list[StockLevel], now: datetime) -> None:
    """Write the levels and insert the movements, which get their ids (RETURNING keeps the
    order of the rows inserted, as Django's own bulk_create relies on)."""
    first = movements[0]
    with connection.cursor() as cursor:
        cursor.execute(
            WRITE,
            {
                "now": now,
                "level": [level.pk for level in levels],
                "on_hand": [level.on_hand for level in levels],
                "incoming": [level.incoming for level in levels],
                "kind": first.kind,
                "trade": first.trade_id,
                "shipment": first.shipment_id,
                "actor": first.actor_id,
                "reason": first.reason,
                "station": [m.station_id for m in movements],
                "commodity": [m.commodity_id for m in movements],
                "bucket": [m.bucket for m in movements],
                "delta": [m.delta for m in movements],
                "balance_after": [m.balance_after for m in movements],
            },
        )
        ids = cursor.fetchall()
    for movement, (pk,) in zip(movements, ids, strict=True):
        as_saved(movement, pk)


# Named movements: the only ways the trade flow moves stock.


def stock_dispatch_for_trade(*, trade: MovedTrade, actor: Actor = None) -> list[StockMovement]:
    """Seller's on_hand leaves; the same goods become incoming at the buyer."""
    changes = []
    for line in trade.line_items():
        changes.append(StockChange(trade.seller, line.commodity, Bucket.ON_HAND, -line.quantity))
        changes.append(StockChange(trade.buyer, line.commodity, Bucket.INCOMING, line.quantity))
    return stock_apply(changes, kind=Kind.DISPATCH, actor=actor, trade=trade)


def stock_receive_shipment(*, shipment: MovedShipment, actor: Actor = None) -> list[StockMovement]:
    """Goods in transit arrive: the buyer's incoming becomes on_hand."""
    buyer = shipment.destination
    changes = []
    for line in shipment.trade.line_items():
        changes.append(StockChange(buyer, line.commodity, Bucket.INCOMING, -line.quantity))
        changes.append(StockChange(buyer, line.commodity, Bucket.ON_HAND, line.quantity))
    return stock_apply(
        changes, kind=Kind.ARRIVAL, actor=actor, trade=shipment.trade, shipment=shipment
    )


def stock_return_shipment(*, shipment: MovedShipment, actor: Actor = None) -> list[StockMovement]:
    """A shipment cancelled before departure: the goods go back to the seller's on_hand."""
    changes = []
    for line in shipment.trade.line_items():
        changes.append(
            StockChange(shipment.destination, line.commodity, Bucket.INCOMING, -line.quantity)
        )
        changes.append(StockChange(shipment.origin, line.commodity, Bucket.ON_HAND, line.quantity))
    return stock_apply(
        changes, kind=Kind.RETURN, actor=actor, trade=shipment.trade, shipment=shipment
    )


def stock_write_off_shipment(
    *, shipment: MovedShipment, actor: Actor = None
) -> list[StockMovement]:
    """A shipment lost in transit: the buyer's incoming is written off."""
    changes = [
        StockChange(shipment.destination, line.commodity, Bucket.INCOMING, -line.quantity)
        for line in shipment.trade.line_items()
    ]
    return stock_apply(
        changes, kind=Kind.WRITE_OFF, actor=actor, trade=shipment.trade, shipment=shipment
    )


def stock_adjust(
    *, station: Station, commodity: Commodity, delta: int, reason: str, actor: Actor = None
) -> StockMovement:
    """An operator's correction of on_hand (a count, spoilage, a find). A refusal leaves the
    caller's transaction usable (a savepoint when nested)."""
    with transaction.atomic():
        [movement] = stock_apply(
            [StockChange(station, commodity, Bucket.ON_HAND, delta)],
            kind=Kind.ADJUSTMENT,
            actor=actor,
            reason=reason,
        )
    return movement


def stock_open(entries: Sequence[tuple[Station, Commodity, int]]) -> int:
    """Record opening stock, once per (station, commodity): entries already recorded are skipped,
    so seeding the same file twice changes nothing. Returns how many entries were recorded."""
    entries = [(s, c, q) for s, c, q in entries if q > 0]
    if not entries:
        return 0
    with transaction.atomic():
        recorded = set(
            StockMovement.objects.filter(
                kind=Kind.INITIAL, station__in={s.pk for s, _, _ in entries}
            ).values_list("station_id", "commodity_id")
        )
        changes = [
            StockChange(station, commodity, Bucket.ON_HAND, quantity)
            for station, commodity, quantity in entries
            if (station.pk, commodity.pk) not in recorded
        ]
        for start in range(0, len(changes), 2000):
            stock_apply(changes[start : start + 2000], kind=Kind.INITIAL, reason="opening stock")
        return len(changes)


# Operators

OPERATOR_GROUP = "Station operators"
OPERATOR_PERMISSIONS = [
    ("trades", "trade", ["add", "change", "view"]),
    ("trades", "tradeline", ["add", "change", "view"]),
    # Proposals are answered with the admin's actions; agreements granted and revoked there.
    ("trades", "proposal", ["view"]),
    ("trades", "agreement", ["add", "view"]),
    ("cargo", "cargo", ["change", "view"]),
    ("cargo", "trackingevent", ["view"]),
    ("inventory", "station", ["view"]),
    ("inventory", "commodity", ["view"]),
    ("inventory", "stocklevel", ["view"]),
    ("inventory", "stockmovement", ["view"]),
    ("credits", "account", ["view"]),
    ("credits", "entry", ["view"]),
    # Their own webhook endpoints and what was delivered to them.
    ("updates", "webhookendpoint", ["add", "change", "delete", "view"]),
    ("updates", "webhookdelivery", ["view"]),
    ("updates", "webhookattempt", ["view"]),
]


def operator_group() -> Group:
    group, _ = Group.objects.get_or_create(name=OPERATOR_GROUP)
    wanted = []
    for app_label, model, actions in OPERATOR_PERMISSIONS:
        for action in actions:
            wanted.append(
                Permission.objects.get(
                    content_type__app_label=app_label, codename=f"{action}_{model}"
                )
            )
    group.permissions.set(wanted)
    return group


def operator_grant(*, user: User, stations: Sequence[Station]) -> None:
    """Make `user` a staff operator of `stations` (in addition to any they already operate)."""
    with transaction.atomic():
        if not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        user.groups.add(operator_group())
        for station in stations:
            station.operators.add(user)
