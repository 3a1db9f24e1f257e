"""The galaxy map and the station pages in a real browser (Debian's Chromium, Playwright),
against a live server: every station drawn, a trade's shipment appearing, departing, moving
and arriving as it happens, the station panel and page showing only what the caller may read,
the chart drawn from the ledger, and nothing loaded from another origin."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from inventory.models import Station, StockMovement
from inventory.services import operator_grant
from tests.factories import (
    CommodityFactory,
    StationFactory,
    UserFactory,
    give_stock,
    grant_agreement,
)
from tests.helpers import post_trade, sign_in_to_live_page, token_header

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def galaxy_of_ana():
    positions = {"ceres-prime": (0, 0), "vesta-yards": (40, 10), "titan": (-30, 25),
                 "io-outpost": (15, -35), "sol-mars": (-12, -8)}  # fmt: skip
    stations = {
        code: StationFactory(
            code=code, x=x, y=y, kind="outpost" if "outpost" in code else "station"
        )
        for code, (x, y) in positions.items()
    }
    water, ore = CommodityFactory(code="water"), CommodityFactory(code="ore")
    for station in stations.values():
        give_stock(station, water, 100)
        give_stock(station, ore, 50)
    ana = UserFactory(username="ana", is_staff=True)
    operator_grant(user=ana, stations=[stations["ceres-prime"]])
    for code, buyer in stations.items():  # Ana sells to every other station by agreement
        if code != "ceres-prime":
            grant_agreement(buyer, stations["ceres-prime"])
    dispatch = UserFactory(username="dispatch", is_superuser=True)
    return {"ana": ana, "headers": token_header(ana), "dispatch": token_header(dispatch),
            "stations": stations}  # fmt: skip


def station_position(page, code: str) -> tuple[float, float]:
    mark = page.locator(f'[data-station="{code}"] g.mark')
    return float(mark.get_attribute("data-x")), float(mark.get_attribute("data-y"))


def position(locator) -> tuple[float, float]:
    x, y = re.match(
        r"translate\(([-\d.]+),([-\d.]+)\)", locator.get_attribute("transform")
    ).groups()
    return float(x), float(y)


def test_the_map_draws_every_station_and_a_shipment_from_order_to_arrival(
    stream_server, galaxy_of_ana, browser_page
):
    page, headers = browser_page, galaxy_of_ana["headers"]
    earlier = post_trade(stream_server, headers, "ceres-prime", "titan", 2).json()
    post_trade(stream_server, galaxy_of_ana["dispatch"], "titan", "vesta-yards", 1)  # not hers
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    sign_in_to_live_page(page, stream_server, "/map/")

    assert page.locator("[data-station]").count() == Station.objects.count() == 5
    # What was on its way before the page opened is drawn; only what ana may read.
    assert page.locator("[data-shipment]").count() == 1
    assert page.locator(f'[data-shipment="{earlier["cargo"]["shipment_id"]}"]').count() == 1
    assert page.locator('[data-station="io-outpost"] polygon').count() == 1  # marked by kind
    assert "own" in page.get_attribute('[data-station="ceres-prime"]', "class")

    placed = post_trade(stream_server, headers, "ceres-prime", "vesta-yards", 4)
    answered = time.monotonic()
    shipment_id = placed.json()["cargo"]["shipment_id"]
    mark = page.locator(f'[data-shipment="{shipment_id}"]')
    mark.wait_for(state="attached", timeout=10_000)
    assert time.monotonic() - answered < 2, "the shipment took over 2 s to appear"
    assert mark.get_attribute("data-status") == "pending"
    at_origin = station_position(page, "ceres-prime")
    assert position(mark) == pytest.approx(at_origin, abs=0.01)

    # Departs, with an ETA a minute away: it moves along its route as time passes.
    eta = (datetime.now(UTC) + timedelta(seconds=60)).isoformat()
    httpx.patch(f"{stream_server}/api/cargo/{shipment_id}/",
                json={"status": "in_transit", "eta": eta}, headers=headers,
                timeout=30).raise_for_status()  # fmt: skip
    page.wait_for_selector(f'[data-shipment="{shipment_id}"][data-status="in_transit"]',
                           timeout=10_000)  # fmt: skip
    first = position(mark)
    time.sleep(2.5)
    later = position(mark)
    assert later != pytest.approx(first, abs=1e-4)
    to = station_position(page, "vesta-yards")
    # Moving towards vesta-yards: nearer than it was.
    assert abs(later[0] - to[0]) + abs(later[1] - to[1]) < abs(first[0] - to[0]) + abs(
        first[1] - to[1]
    )

    # Filters: by commodity (ore: not this shipment), by station.
    page.select_option("#commodity-filter", "ore")
    page.wait_for_function(f"""document.querySelector('[data-shipment="{shipment_id}"]')
                              .style.display === 'none'""")  # fmt: skip
    page.select_option("#commodity-filter", "water")
    page.select_option("#station-filter", "titan")
    page.wait_for_function(f"""document.querySelector('[data-shipment="{shipment_id}"]')
                              .style.display === 'none'""")  # fmt: skip
    page.select_option("#station-filter", "")

    # The panel of one's own station: stock, its shipments, recent trades.
    page.click('[data-station="ceres-prime"] circle')
    page.wait_for_selector('#panel-stock tr[data-commodity="water"]', timeout=10_000)
    assert "94" in page.inner_text('#panel-stock tr[data-commodity="water"]')  # 100 - 2 - 4
    assert page.locator(f'#panel-shipments [data-panel-shipment="{shipment_id}"]').count() == 1
    page.wait_for_selector(f'#panel-trades [data-panel-trade="{placed.json()["transaction_id"]}"]')
    # Another's station: its place and name, not its stock.
    page.click('[data-station="titan"] circle')
    page.wait_for_function("document.getElementById('panel-stock').innerText.includes('Not yours')")

    # Arrives (vesta-yards' business, marked by dispatch here): it leaves the map.
    httpx.patch(f"{stream_server}/api/cargo/{shipment_id}/", json={"status": "delivered"},
                headers=galaxy_of_ana["dispatch"], timeout=30).raise_for_status()  # fmt: skip
    mark.wait_for(state="detached", timeout=10_000)
    assert all(url.startswith(stream_server) for url in requested), requested


def test_the_station_page_charts_the_ledger_and_stays_live(
    stream_server, galaxy_of_ana, browser_page
):
    page, headers = browser_page, galaxy_of_ana["headers"]
    ceres = galaxy_of_ana["stations"]["ceres-prime"]
    # Some history: adjustments, dated over the last days.
    for delta in (5, -3, 12, -7):
        answer = httpx.post(f"{stream_server}/api/inventory/ceres-prime/adjustments/",
                            json={"commodity": "water", "delta": delta, "reason": "count"},
                            headers=headers, timeout=30)  # fmt: skip
        assert answer.status_code == 201, answer.json()
    rows = list(StockMovement.objects.filter(station=ceres).order_by("id"))
    now = datetime.now(UTC)
    for age, row in zip(range(len(rows), 0, -1), rows, strict=True):
        StockMovement.objects.filter(pk=row.pk).update(created_at=now - timedelta(hours=20 * age))

    requested = []
    page.on("request", lambda request: requested.append(request.url))
    sign_in_to_live_page(page, stream_server, "/stations/ceres-prime/")
    page.wait_for_selector("#chart[data-commodity=ore]", timeout=15_000)  # the first, at first
    page.select_option("#chart-commodity", "water")
    page.wait_for_selector("#chart[data-commodity=water]", timeout=15_000)
    points = page.eval_on_selector_all(
        "#chart circle[data-point]",
        "nodes => nodes.map(n => [n.dataset.at, +n.dataset.onHand, +n.dataset.incoming])",
    )
    assert len(points) >= 168
    changes_seen = set()
    for at, on_hand, incoming in points:
        moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
        ledger = StockMovement.objects.filter(
            station=ceres, commodity__code="water", created_at__lte=moment
        )
        expected = sum(r.delta for r in ledger if r.bucket == "on_hand")
        assert on_hand == expected, (at, on_hand, expected)
        assert incoming == sum(r.delta for r in ledger if r.bucket == "incoming")
        changes_seen.add(on_hand)
    assert len(changes_seen) >= 4  # the chart shows the history, not a flat line
    assert page.inner_text('#stock tr[data-commodity="water"] td.on-hand') == "107 t"

    # Live: a sale from ceres changes the stock table and lists the shipment, no reload.
    placed = post_trade(stream_server, headers, "ceres-prime", "titan", 7).json()
    page.wait_for_function(
        """document.querySelector('#stock tr[data-commodity="water"] td.on-hand')
           .textContent === '100 t'""",
        timeout=15_000,
    )
    page.wait_for_selector(f'#shipments tr[data-shipment="{placed["cargo"]["shipment_id"]}"]')
    page.wait_for_selector(f'#trades tr[data-trade="{placed["transaction_id"]}"]')
    assert all(url.startswith(stream_server) for url in requested), requested

    # Another operator's station page is not found for ana.
    assert page.goto(f"{stream_server}/stations/titan/").status == 404


def test_the_station_page_and_the_map_panel_show_credits_live(
    stream_server, galaxy_of_ana, browser_page
):
    """Ceres buys from Titan (placed by dispatch staff): the credits card shows the hold as it
    happens and the chart has the balance from the entries; the map's panel shows ceres's
    credits to ana, and titan's to nobody but its operators."""
    page, dispatch = browser_page, galaxy_of_ana["dispatch"]
    sign_in_to_live_page(page, stream_server, "/stations/ceres-prime/")
    assert page.inner_text("#credits td.balance") == "1000000.00 cr"
    page.wait_for_selector("#credit-chart[data-points]", timeout=15_000)
    assert int(page.get_attribute("#credit-chart", "data-points")) >= 168
    assert page.get_attribute("#credit-chart", "data-balance") == "1000000.00"

    bought = post_trade(stream_server, dispatch, "titan", "ceres-prime", 4)  # 4 t at 2.00
    assert bought.status_code == 201, bought.text
    page.wait_for_function(
        "document.querySelector('#credits td.held').textContent === '8.00 cr'", timeout=15_000
    )
    assert page.inner_text("#credits td.available") == "999992.00 cr"

    page.goto(f"{stream_server}/map/")
    page.click('[data-station="ceres-prime"] circle')
    page.wait_for_selector("#panel-credits[data-available='999992.00']", timeout=15_000)
    page.click('[data-station="titan"] circle')
    page.wait_for_function(
        "document.querySelector('#panel-credits').textContent.startsWith('Not yours')",
        timeout=15_000,
    )
