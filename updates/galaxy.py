"""What the galaxy map and the station pages show, read as their caller may see it."""

from __future__ import annotations

from django.db.models import Q

from cargo.models import Cargo
from cargo.selectors import shipments_visible_to
from cargo.services import shipment_event_payload
from inventory.access import stations_for
from inventory.models import Commodity, Station, StockLevel
from inventory.selectors import ledger_of
from trades.selectors import trades_visible_to

ON_THE_MAP = (Cargo.Status.PENDING, Cargo.Status.IN_TRANSIT)
MAX_SHIPMENTS = 5000


def shipment_on_map(shipment: Cargo) -> dict:
    """As the stream announces it (cargo.created / cargo.updated), with its commodities."""
    commodities = sorted({line.commodity.code for line in shipment.trade.lines.all()})
    return {**shipment_event_payload(shipment), "commodities": commodities}


def map_state(user) -> dict:
    """Every station of the directory (any signed-in user may read it), the shipments on their
    way that `user` may read (pending or in transit), the commodities, and which stations are
    the caller's own."""
    stations = list(Station.objects.order_by("code").values("code", "name", "kind", "x", "y", "z"))
    own = set(stations_for(user).values_list("code", flat=True))
    # shipments_visible_to brings the trades, the stations and the lines with commodities.
    shipments = (shipments_visible_to(user).filter(status__in=ON_THE_MAP).order_by("-created_at"))[
        :MAX_SHIPMENTS
    ]
    return {
        "stations": [{**station, "own": station["code"] in own} for station in stations],
        "shipments": [shipment_on_map(shipment) for shipment in shipments],
        "commodities": list(Commodity.objects.order_by("code").values_list("code", flat=True)),
    }


def station_dashboard(station: Station, user) -> dict:
    """A station's page: its stock, the shipments leaving or arriving (overdue first, then by
    ETA), its recent trades and ledger entries (adjustments among them)."""
    here = Q(origin=station) | Q(destination=station)
    shipments = sorted(
        shipments_visible_to(user).filter(here, status__in=ON_THE_MAP).order_by("eta")[:100],
        key=lambda shipment: not shipment.is_overdue,
    )
    trades = (
        trades_visible_to(user)
        .filter(Q(seller=station) | Q(buyer=station))
        .order_by("-created_at")[:15]
    )
    return {
        "station": station,
        # A list: the page goes over it twice (the table and the chart's commodities).
        "levels": list(
            StockLevel.objects.filter(station=station)
            .select_related("commodity")
            .order_by("commodity__code")
        ),
        "shipments": shipments,
        "trades": trades,
        "ledger": ledger_of(station)[:20],
    }
