from __future__ import annotations

import pytest

from inventory.models import Station, StockMovement
from tests.factories import make_trade
from tests.helpers import assert_ledger_matches_levels, level

pytestmark = pytest.mark.django_db


def test_station_inventory_in_the_original_shape(api, dispatcher, stocked_ceres, vesta, water):
    make_trade(stocked_ceres, vesta, (water, 30))
    client = api(dispatcher)
    ceres = client.get("/api/inventory/ceres-prime/").json()
    assert ceres["station"] == "ceres-prime"
    assert ceres["quantity"] == 70 + 50
    assert ceres["items"] == [
        {"commodity": "iron-ore", "on_hand": 50, "incoming": 0},
        {"commodity": "water", "on_hand": 70, "incoming": 0},
    ]
    vesta_body = client.get("/api/inventory/vesta-yards/").json()
    assert vesta_body["quantity"] == 0
    assert vesta_body["items"] == [{"commodity": "water", "on_hand": 0, "incoming": 30}]
    listing = client.get("/api/inventory/").json()["results"]
    assert [s["station"] for s in listing] == ["ceres-prime", "vesta-yards"]
    assert client.get("/api/inventory/atlantis/").status_code == 404


def test_operator_adjusts_own_stock_through_the_ledger(api, ceres_op, stocked_ceres, water):
    response = api(ceres_op).post(
        "/api/inventory/ceres-prime/adjustments/",
        {"commodity": "water", "delta": -4, "reason": "spoiled in storage"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["kind"] == "adjustment"
    assert response.json()["balance_after"] == 96
    assert response.json()["actor"] == "ceres-op"
    assert level(stocked_ceres, water).on_hand == 96
    assert_ledger_matches_levels()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"commodity": "water", "delta": 0, "reason": "x"}, "delta"),
        ({"commodity": "water", "delta": 5}, "reason"),
        ({"commodity": "nothing", "delta": 5, "reason": "x"}, "commodity"),
        ({"commodity": "water", "delta": 10**15, "reason": "x"}, "delta"),
        ({"commodity": "water", "delta": "many", "reason": "x"}, "delta"),
    ],
)
def test_bad_adjustments_are_400_with_field_messages(api, ceres_op, stocked_ceres, body, field):
    response = api(ceres_op).post("/api/inventory/ceres-prime/adjustments/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_adjustment_below_zero_is_409(api, ceres_op, stocked_ceres, water):
    response = api(ceres_op).post(
        "/api/inventory/ceres-prime/adjustments/",
        {"commodity": "water", "delta": -101, "reason": "count"},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["detail"]["available"] == 100


def test_movements_filter_by_commodity_kind_and_time(
    api, ceres_op, stocked_ceres, vesta, water, ore
):
    make_trade(stocked_ceres, vesta, (water, 3))
    client = api(ceres_op)

    def kinds(query):
        response = client.get(f"/api/inventory/ceres-prime/movements/?{query}")
        assert response.status_code == 200, response.json()
        return [(m["commodity"], m["kind"], m["delta"]) for m in response.json()["results"]]

    assert kinds("") == [
        ("water", "dispatch", -3),
        ("iron-ore", "initial", 50),
        ("water", "initial", 100),
    ]
    assert kinds("commodity=water") == [("water", "dispatch", -3), ("water", "initial", 100)]
    assert kinds("kind=dispatch") == [("water", "dispatch", -3)]
    assert kinds("created_before=2000-01-01T00:00:00Z") == []
    assert kinds("commodity=unobtainium") == []
    assert kinds("kind=dispatch&kind=initial&commodity=water") == [
        ("water", "dispatch", -3),
        ("water", "initial", 100),
    ]
    client.post(
        "/api/inventory/ceres-prime/adjustments/",
        {"commodity": "water", "delta": -1, "reason": "Recount after the AUDIT"},
        format="json",
    )
    assert kinds("search=audit recount") == [("water", "adjustment", -1)]
    assert kinds("search=aud") == []  # whole words
    assert client.get("/api/inventory/atlantis/movements/").status_code == 404


def test_stations_and_commodities_read_for_all_write_for_dispatch(
    api, outsider, ceres_op, dispatcher, stocked_ceres
):
    assert api(outsider).get("/api/stations/").status_code == 200
    assert api(outsider).get("/api/commodities/water/").status_code == 200
    body = {"code": "new-port", "name": "New Port", "kind": "outpost", "x": 1, "y": 2, "z": 3}
    assert api(ceres_op).post("/api/stations/", body, format="json").status_code == 403
    assert api(dispatcher).post("/api/stations/", body, format="json").status_code == 201
    assert Station.objects.filter(code="new-port").exists()
    renamed = api(dispatcher).patch(
        "/api/stations/new-port/", {"name": "Newer Port"}, format="json"
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Newer Port"
    duplicate = api(dispatcher).post("/api/stations/", body, format="json")
    assert duplicate.status_code == 400 and "code" in duplicate.json()["errors"]
    # A station with history cannot be deleted.
    protected = api(dispatcher).delete("/api/stations/ceres-prime/")
    assert protected.status_code == 409
    assert api(dispatcher).delete("/api/stations/new-port/").status_code == 204
    assert StockMovement.objects.filter(station=stocked_ceres).exists()


def count_queries(client, url) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_inventory_and_ledger_queries_do_not_grow_with_page_size(api, dispatcher, water, ore):
    from tests.factories import StationFactory, give_stock

    for _ in range(12):
        station = StationFactory()
        give_stock(station, water, 5)
        give_stock(station, ore, 5)
    client = api(dispatcher)
    assert count_queries(client, "/api/inventory/?page_size=2") == count_queries(
        client, "/api/inventory/?page_size=12"
    )
    code = station.code
    small = count_queries(client, f"/api/inventory/{code}/movements/?page_size=1")
    assert small == count_queries(client, f"/api/inventory/{code}/movements/?page_size=50")
