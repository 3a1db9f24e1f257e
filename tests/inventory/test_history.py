"""Stock history from the ledger: levels as they stood at a moment, and over time; checked
against a replay of the ledger's deltas, with the API's read rules and its 400s."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from inventory.models import StockMovement
from inventory.services import operator_grant, stock_adjust
from tests.factories import CommodityFactory, StationFactory, UserFactory, give_stock, make_trade

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def replay(station, commodity, at):
    """Levels at `at` by adding up the deltas of every ledger row up to then."""
    levels = {"on_hand": 0, "incoming": 0}
    for row in StockMovement.objects.filter(
        station=station, commodity=commodity, created_at__lte=at
    ):
        levels[row.bucket] += row.delta
    return levels


@pytest.fixture
def history(db):
    """Two stations trading water and ore over ten days, with adjustments: ledger rows at known,
    scattered moments (the rows are made by the services, then dated)."""
    ceres, titan = StationFactory(code="ceres-prime"), StationFactory(code="titan")
    water, ore = CommodityFactory(code="water"), CommodityFactory(code="ore")
    for station in (ceres, titan):
        give_stock(station, water, 500)
        give_stock(station, ore, 300)
    rng = random.Random(7)
    for _ in range(60):
        seller, buyer = rng.sample([ceres, titan], 2)
        make_trade(seller, buyer, (rng.choice([water, ore]), rng.randint(1, 9)))
        if rng.random() < 0.3:
            stock_adjust(station=ceres, commodity=water, delta=rng.randint(1, 5), reason="count")
    rows = list(StockMovement.objects.order_by("id"))
    moments = sorted(T0 + timedelta(seconds=rng.randint(0, 10 * 86400)) for _ in rows)
    for row, at in zip(rows, moments, strict=True):
        StockMovement.objects.filter(pk=row.pk).update(created_at=at)
    ana = UserFactory(username="ana")
    operator_grant(user=ana, stations=[ceres])
    return {"ceres": ceres, "titan": titan, "water": water, "ore": ore, "ana": ana}


def test_levels_as_of_a_moment_equal_the_replayed_ledger(api, history):
    client = api(history["ana"])
    rng = random.Random(3)
    for _ in range(15):
        at = T0 + timedelta(seconds=rng.randint(-3600, 11 * 86400))
        answer = client.get("/api/inventory/ceres-prime/", {"as_of": at.isoformat()})
        assert answer.status_code == 200, answer.json()
        body = answer.json()
        assert body["station"] == "ceres-prime" and set(body) >= {"items", "quantity", "kind"}
        items = {item["commodity"]: item for item in body["items"]}
        for commodity in (history["water"], history["ore"]):
            expected = replay(history["ceres"], commodity, at)
            got = items[commodity.code]
            assert (got["on_hand"], got["incoming"]) == (
                expected["on_hand"],
                expected["incoming"],
            ), (at, commodity.code)
        assert body["quantity"] == sum(item["on_hand"] for item in body["items"])
    # Without as_of: today's levels, which are the ledger's last balances.
    now = client.get("/api/inventory/ceres-prime/").json()
    later = client.get("/api/inventory/ceres-prime/", {"as_of": "2030-01-01T00:00:00Z"}).json()
    assert now["items"] == later["items"]


def test_history_gives_the_level_at_the_end_of_each_bucket(api, history):
    client = api(history["ana"])
    start, end = T0 + timedelta(days=2, minutes=30), T0 + timedelta(days=5, hours=3, minutes=10)
    answer = client.get(
        "/api/inventory/ceres-prime/history/",
        {"commodity": "water", "start": start.isoformat(), "end": end.isoformat(),
         "interval": "hour"},
    )  # fmt: skip
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert (body["station"], body["commodity"], body["interval"]) == (
        "ceres-prime",
        "water",
        "hour",
    )
    points = body["points"]
    ats = [datetime.fromisoformat(p["at"].replace("Z", "+00:00")) for p in points]
    # Whole hours (UTC) after start, then end itself for the bucket still running.
    assert ats[0] == T0 + timedelta(days=2, hours=1) and ats[-1] == end
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(ats[:-1]))
    assert len(points) == 76
    for point, at in zip(points, ats, strict=True):
        expected = replay(history["ceres"], history["water"], at)
        assert (point["on_hand"], point["incoming"]) == (
            expected["on_hand"],
            expected["incoming"],
        ), at
    daily = client.get(
        "/api/inventory/ceres-prime/history/",
        {"commodity": "ore", "start": T0.isoformat(), "end": (T0 + timedelta(days=10)).isoformat(),
         "interval": "day"},
    ).json()["points"]  # fmt: skip
    assert len(daily) == 10
    for point in daily:
        at = datetime.fromisoformat(point["at"].replace("Z", "+00:00"))
        expected = replay(history["ceres"], history["ore"], at)
        assert point["on_hand"] == expected["on_hand"], at


def test_history_defaults_to_the_last_seven_days_by_the_hour(api, history):
    body = api(history["ana"]).get("/api/inventory/ceres-prime/history/?commodity=water").json()
    assert body["interval"] == "hour"
    assert 168 <= len(body["points"]) <= 169
    current = api(history["ana"]).get("/api/inventory/ceres-prime/").json()
    water = next(item for item in current["items"] if item["commodity"] == "water")
    assert body["points"][-1]["on_hand"] == water["on_hand"]


@pytest.mark.parametrize(
    "query, field",
    [
        ({"commodity": "water", "start": "yesterday"}, "start"),
        ({"commodity": "water", "end": "2026-13-45T99:00"}, "end"),
        ({"commodity": "water", "interval": "week"}, "interval"),
        ({"commodity": "unobtainium"}, "commodity"),
        ({}, "commodity"),
        ({"commodity": "water", "start": "2026-11-05T00:00Z", "end": "2026-11-01T00:00Z"}, "start"),
        ({"commodity": "water", "start": "2000-01-01T00:00Z", "interval": "hour"}, "interval"),
    ],
)
def test_bad_history_queries_are_400s_naming_the_field(api, history, query, field):
    answer = api(history["ana"]).get("/api/inventory/ceres-prime/history/", query)
    assert answer.status_code == 400, answer.json()
    assert field in answer.json()["errors"], answer.json()


def test_a_malformed_as_of_is_a_400(api, history):
    answer = api(history["ana"]).get("/api/inventory/ceres-prime/", {"as_of": "last tuesday"})
    assert answer.status_code == 400
    assert "as_of" in answer.json()["errors"]


def test_history_follows_the_read_rules(api, history):
    ana, stranger = api(history["ana"]), api(UserFactory(username="zed"))
    assert ana.get("/api/inventory/titan/history/?commodity=water").status_code == 404
    assert ana.get("/api/inventory/titan/", {"as_of": T0.isoformat()}).status_code == 404
    assert stranger.get("/api/inventory/ceres-prime/history/?commodity=water").status_code == 404
    assert api().get("/api/inventory/ceres-prime/history/?commodity=water").status_code in (
        401,
        403,
    )
