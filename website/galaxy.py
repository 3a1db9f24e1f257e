"""What the galaxy map and the station pages show, read as their caller may see it."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from cargo.events import CARGO_CREATED, CARGO_UPDATED
from cargo.models import Cargo
from cargo.selectors import shipments_visible_to
from cargo.services import shipment_event_payload
from core.text import unit_plural
from credits.selectors import balances_of
from inventory.access import stations_for
from inventory.events import INVENTORY_CHANGED
from inventory.models import Commodity, Station, StockLevel, StockMovement
from inventory.selectors import ledger_of
from trades.events import TRADE_INITIATED, TRADE_STATUS_CHANGED
from trades.models import Proposal
from trades.selectors import agreements_visible_to, proposals_visible_to, trades_visible_to
from updates.log import eventstream

ON_THE_MAP = (Cargo.Status.PENDING, Cargo.Status.IN_TRANSIT)

Kind, Bucket = StockMovement.Kind, StockMovement.Bucket
# What a ledger row means at its station, in the operator's words: the kind of movement and the
# bucket it moved (a dispatch is goods leaving the seller, and goods on their way to the buyer).
LEDGER_WORDS = {
    (Kind.INITIAL, Bucket.ON_HAND): "Opening stock",
    (Kind.DISPATCH, Bucket.ON_HAND): "Dispatched to the buyer",
    (Kind.DISPATCH, Bucket.INCOMING): "On its way here",
    (Kind.ARRIVAL, Bucket.INCOMING): "Arrived (no longer on its way)",
    (Kind.ARRIVAL, Bucket.ON_HAND): "Arrived",
    (Kind.RETURN, Bucket.ON_HAND): "Returned (trade cancelled)",
    (Kind.RETURN, Bucket.INCOMING): "Cancelled on its way",
    (Kind.WRITE_OFF, Bucket.INCOMING): "Written off (shipment lost)",
    (Kind.WRITE_OFF, Bucket.ON_HAND): "Written off",
    (Kind.ADJUSTMENT, Bucket.ON_HAND): "Adjustment",
    (Kind.ADJUSTMENT, Bucket.INCOMING): "Adjustment",
}


def ledger_rows(entries) -> list[dict]:
    return [
        {
            "entry": entry,
            "meaning": LEDGER_WORDS.get((entry.kind, entry.bucket), entry.get_kind_display()),
        }
        for entry in entries
    ]


MAX_SHIPMENTS = 5000
DIRECTORY_NAMES = 5000
# The live page opens with what the stream's last this-many events hold for the user.
LIVE_HISTORY_EVENTS = 300
# What the live feed shows (trades, shipments, stock), handed to live.js, which words each.
LIVE_FEED_EVENTS = (
    TRADE_INITIATED,
    TRADE_STATUS_CHANGED,
    CARGO_CREATED,
    CARGO_UPDATED,
    INVENTORY_CHANGED,
)


def shipment_on_map(shipment: Cargo) -> dict:
    """As the stream announces it (cargo.created / cargo.updated), with its commodities."""
    commodities = sorted({line.commodity.code for line in shipment.trade.lines.all()})
    return {**shipment_event_payload(shipment), "commodities": commodities}


def names(user) -> dict:
    """Station and commodity names for pages that show events (whose payloads carry codes),
    with each commodity's unit for one (`unit`) and for any other number (`units`): the
    whole directory, which any signed-in user may read, up to DIRECTORY_NAMES stations;
    past that, the user's own (others are then shown by code)."""
    stations = Station.objects.order_by()
    if stations.count() > DIRECTORY_NAMES:
        stations = stations_for(user).order_by()
    return {
        "stations": dict(stations.values_list("code", "name")[:DIRECTORY_NAMES]),
        "commodities": {
            code: {"name": name, "unit": unit, "units": unit_plural(unit)}
            for code, name, unit in Commodity.objects.values_list("code", "name", "unit")
        },
    }


def live_feed_context(user) -> dict:
    return {
        "stations": stations_for(user).only("code", "name").order_by("name")[:500],
        "names": names(user),
        "event_types": LIVE_FEED_EVENTS,
        # The stream replays from here when the page opens: its recent history.
        # Never more than a replay may hold (more would answer stream-reset instead).
        "history_from": max(
            0,
            eventstream.current_id() - min(LIVE_HISTORY_EVENTS, settings.TRADENET_SSE_REPLAY_LIMIT),
        ),
    }


def map_state(user) -> dict:
    """Every station of the directory (any signed-in user may read it), the shipments on their
    way that `user` may read (pending or in transit), the commodities (with their names and
    units, one and many, for the panel's words), and which stations are the caller's own."""
    stations = list(Station.objects.order_by("code").values("code", "name", "kind", "x", "y", "z"))
    own = set(stations_for(user).values_list("code", flat=True))
    # shipments_visible_to brings the trades, the stations and the lines with commodities.
    shipments = (shipments_visible_to(user).filter(status__in=ON_THE_MAP).order_by("-created_at"))[
        :MAX_SHIPMENTS
    ]
    return {
        "stations": [{**station, "own": station["code"] in own} for station in stations],
        "shipments": [shipment_on_map(shipment) for shipment in shipments],
        "commodities": [
            {**commodity, "units": unit_plural(commodity["unit"])}
            for commodity in Commodity.objects.order_by("name").values("code", "name", "unit")
        ],
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
        "ledger": ledger_rows(ledger_of(station)[:20]),
        "credits": balances_of(station),
        **consent_at(station, user),
    }


Side = Proposal.Side
PROPOSALS_SHOWN = 50
AGREEMENTS_SHOWN = 20


def proposal_rows(proposals, station) -> list[dict]:
    """Proposals as the station page lists them: the other station and the goods in words."""
    proposals = list(proposals)
    codes = {item["commodity"] for proposal in proposals for item in proposal.items}
    known = Commodity.objects.in_bulk(list(codes), field_name="code")
    rows = []
    for proposal in proposals:
        selling = proposal.seller_id == station.pk
        goods = []
        for item in proposal.items:
            commodity = known.get(item["commodity"])
            goods.append(
                {
                    "quantity": item["quantity"],
                    "commodity": commodity,
                    "name": commodity.name if commodity else item["commodity"],
                    "unit_price": item["unit_price"],
                }
            )
        rows.append(
            {
                "proposal": proposal,
                "selling": selling,
                "other": proposal.buyer if selling else proposal.seller,
                "goods": goods,
            }
        )
    return rows


def consent_at(station: Station, user) -> dict:
    """The station's open proposals, those waiting for its answer and those waiting for the
    other side's (soonest to expire first), and its active agreements, granted and held
    (docs/pages.md#proposals)."""
    now = timezone.now()
    open_ = proposals_visible_to(user).filter(status=Proposal.Status.OPEN, expires_at__gt=now)
    # The seller proposed and the station buys, or the other way round.
    answering = Q(buyer=station, proposed_by_side=Side.SELLER) | Q(
        seller=station, proposed_by_side=Side.BUYER
    )
    proposing = Q(seller=station, proposed_by_side=Side.SELLER) | Q(
        buyer=station, proposed_by_side=Side.BUYER
    )
    active = (
        agreements_visible_to(user)
        .filter(revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("-created_at", "-id")
    )
    return {
        "proposals_waiting": proposal_rows(
            open_.filter(answering).order_by("expires_at", "id")[:PROPOSALS_SHOWN], station
        ),
        "proposals_sent": proposal_rows(
            open_.filter(proposing).order_by("expires_at", "id")[:PROPOSALS_SHOWN], station
        ),
        "agreements_granted": list(active.filter(buyer=station)[:AGREEMENTS_SHOWN]),
        "agreements_held": list(active.filter(seller=station)[:AGREEMENTS_SHOWN]),
    }
