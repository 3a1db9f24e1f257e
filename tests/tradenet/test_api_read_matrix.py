"""Who may read what, over every read route: stations are competitors.

The directory (stations, commodities) is for everyone signed in; a trade for its seller's and
buyer's operators; a shipment for its origin's and destination's; a station's stock and ledger
for that station's operators; everything for dispatch staff. A detail the caller may not read
answers 404, exactly as one that does not exist, and lists show only what the caller may read,
whatever the filters say.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from inventory.services import operator_grant
from tests.factories import StationFactory, UserFactory, make_trade

pytestmark = pytest.mark.django_db

ANONYMOUS, SELLER_OP, BUYER_OP, UNRELATED_OP, DISPATCH, SUPERUSER = (
    "anonymous", "seller_op", "buyer_op", "unrelated_op", "dispatch", "superuser",
)  # fmt: skip
EVERYONE = (ANONYMOUS, SELLER_OP, BUYER_OP, UNRELATED_OP, DISPATCH, SUPERUSER)
STAFF = {DISPATCH, SUPERUSER}


@pytest.fixture
def world(stocked_ceres, vesta, water):
    titan = StationFactory(code="titan")
    trade = make_trade(stocked_ceres, vesta, (water, 4))
    people = {ANONYMOUS: None}
    for name, stations in (
        (SELLER_OP, [stocked_ceres]),
        (BUYER_OP, [vesta]),
        (UNRELATED_OP, [titan]),
    ):
        people[name] = UserFactory(username=name)
        operator_grant(user=people[name], stations=stations)
    people[DISPATCH] = UserFactory(username=DISPATCH)
    people[DISPATCH].user_permissions.add(Permission.objects.get(codename="act_for_all_stations"))
    people[SUPERUSER] = UserFactory(username=SUPERUSER, is_superuser=True)
    return trade, people


def routes(trade) -> dict[str, tuple[str, set[str]]]:
    """path -> who may read it (signed in; anonymous callers get 401 everywhere)."""
    shipment = trade.cargo.shipment_id
    parties = {SELLER_OP, BUYER_OP} | STAFF
    return {
        "trade": (f"/api/trades/{trade.transaction_id}/", parties),
        "shipment": (f"/api/cargo/{shipment}/", parties),
        "tracking": (f"/api/cargo/{shipment}/events/", parties),
        "seller stock": ("/api/inventory/ceres-prime/", {SELLER_OP} | STAFF),
        "buyer stock": ("/api/inventory/vesta-yards/", {BUYER_OP} | STAFF),
        "seller ledger": ("/api/inventory/ceres-prime/movements/", {SELLER_OP} | STAFF),
        "buyer ledger": ("/api/inventory/vesta-yards/movements/", {BUYER_OP} | STAFF),
        "station": ("/api/stations/ceres-prime/", set(EVERYONE) - {ANONYMOUS}),
        "commodity": ("/api/commodities/water/", set(EVERYONE) - {ANONYMOUS}),
    }


@pytest.mark.parametrize("who", EVERYONE)
def test_details_answer_only_those_who_may_read_them(api, world, who):
    trade, people = world
    client = api(people[who])
    for name, (path, readers) in routes(trade).items():
        status = client.get(path).status_code
        if who == ANONYMOUS:
            assert status == 401, (name, status)
        elif who in readers:
            assert status == 200, (who, name, status)
        else:
            assert status == 404, (who, name, status)  # as if it did not exist


def listed(client, path: str, key: str) -> set[str]:
    response = client.get(path)
    assert response.status_code == 200, (path, response.content)
    return {row[key] for row in response.json()["results"]}


@pytest.mark.parametrize("who", set(EVERYONE) - {ANONYMOUS})
def test_lists_show_only_what_the_caller_may_read_whatever_the_filters(api, world, who):
    trade, people = world
    client = api(people[who])
    party = who in {SELLER_OP, BUYER_OP} | STAFF
    for path in (
        "/api/trades/",
        "/api/trades/?seller=ceres-prime",
        "/api/trades/?station=vesta-yards",
    ):
        assert (trade.transaction_id in listed(client, path, "transaction_id")) == party, path
    shipment = trade.cargo.shipment_id
    for path in ("/api/cargo/", "/api/cargo/?origin=ceres-prime", f"/api/cargo/?search={shipment}"):
        assert (shipment in listed(client, path, "shipment_id")) == party, path
    stock = listed(client, "/api/inventory/", "station")
    own = {SELLER_OP: {"ceres-prime"}, BUYER_OP: {"vesta-yards"}, UNRELATED_OP: {"titan"}}
    if who in STAFF:
        assert {"ceres-prime", "vesta-yards", "titan"} <= stock
    else:
        assert stock == own[who]
        assert listed(client, "/api/inventory/?search=ceres", "station") <= own[who]


def test_the_legacy_update_route_hides_shipments_the_caller_may_not_read(api, world):
    trade, people = world
    response = api(people[UNRELATED_OP]).put(
        f"/api/cargo/update/{trade.cargo.shipment_id}/", {"status": "in_transit"}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["message"] == "Cargo not found"
