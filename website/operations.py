"""The operations summary above the admin's app list: the caller's business at a glance, each
figure a link into the admin list it counts."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from cargo.models import Cargo
from cargo.selectors import shipments_visible_to
from credits.selectors import lowest_available
from inventory.access import visible_to
from inventory.models import StockLevel
from trades.selectors import trades_visible_to

LOWEST = 5


@dataclass(frozen=True)
class Figure:
    heading: str
    count: int
    link: str


@dataclass(frozen=True)
class LowStock:
    station: str
    commodity: str
    on_hand: int
    incoming: int
    link: str
    # What people read (the codes above are for links and tests).
    station_name: str = ""
    commodity_name: str = ""
    unit: str = ""


def _admin_list(model: str, **query) -> str:
    return reverse(f"admin:{model}_changelist") + ("?" + urlencode(query) if query else "")


def operations_summary(user) -> dict:
    """Trades today, shipments in transit and overdue, the lowest stock and credits: of the stations
    `user` operates (every station for dispatch staff)."""
    today = timezone.localdate()
    shipments = shipments_visible_to(user).order_by()
    figures = [
        Figure(
            "Trades today",
            trades_visible_to(user).order_by().filter(created_at__date=today).count(),
            _admin_list(
                "trades_trade",
                created_at__day=today.day,
                created_at__month=today.month,
                created_at__year=today.year,
            ),
        ),
        Figure(
            "In transit",
            shipments.filter(status=Cargo.Status.IN_TRANSIT).count(),
            _admin_list("cargo_cargo", status__exact=Cargo.Status.IN_TRANSIT),
        ),
        Figure(
            "Overdue",
            shipments.overdue().count(),
            _admin_list("cargo_cargo", overdue="yes"),
        ),
    ]
    levels = (
        visible_to(StockLevel.objects.all(), user, "station_id")
        .select_related("station", "commodity")
        .order_by("on_hand", "station__code", "commodity__code")[:LOWEST]
    )
    lowest = [
        LowStock(
            level.station.code,
            level.commodity.code,
            level.on_hand,
            level.incoming,
            _admin_list(
                "inventory_stocklevel",
                q=level.station.code,
                commodity__id__exact=level.commodity_id,
            ),
            level.station.name,
            level.commodity.name,
            level.commodity.unit,
        )
        for level in levels
    ]
    return {
        "figures": figures,
        "lowest": lowest,
        "lowest_link": _admin_list("inventory_stocklevel", o="3"),
        "least_credits": [
            {**row, "link": _admin_list("credits_account", q=row["station"])}
            for row in lowest_available(user, LOWEST)
        ],
        "credits_link": _admin_list("credits_account"),
    }
