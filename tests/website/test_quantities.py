"""Quantities with their unit read as English on every page: "1 crate", "100 crates",
"2,500 units", "250 t". The server writes them by core.text's rule (the station page, the
admin's summary) and gives the pages' scripts each unit's plural (text.js picks which one a
number takes); the browser tests read what Debian's Chromium shows."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from inventory.services import operator_grant
from tests.factories import (
    CommodityFactory,
    StationFactory,
    UserFactory,
    give_stock,
    grant_agreement,
    make_trade,
)
from tests.helpers import sign_in_to_live_page, token_header

pytestmark = pytest.mark.django_db(transaction=True)

SOLD = "1 crate Spare parts, 1 unit Quantum chips"


@pytest.fixture
def stock():
    """Ceres Prime holds 101 crates of spare parts, 2,501 units of quantum chips and 250 t of
    water; ana operates it and Vesta Yards, which has none of them yet."""
    ceres, vesta = StationFactory(code="ceres-prime"), StationFactory(code="vesta-yards")
    grant_agreement(vesta, ceres)
    parts = CommodityFactory(code="spare-parts", name="Spare parts", unit="crate")
    chips = CommodityFactory(code="quantum-chips", name="Quantum chips", unit="unit")
    water = CommodityFactory(code="water", name="Water ice", unit="t")
    for commodity, quantity in ((parts, 101), (chips, 2_501), (water, 250)):
        give_stock(ceres, commodity, quantity)
    ana = UserFactory(username="ana", is_staff=True)
    operator_grant(user=ana, stations=[ceres, vesta])
    return {"ceres": ceres, "vesta": vesta, "parts": parts, "chips": chips, "ana": ana}


def sell_one_of_each(base: str, ana) -> dict:
    """Ceres sells Vesta one crate of spare parts and one unit of chips, through the API."""
    items = [
        {"commodity": code, "quantity": 1, "unit_price": "2.00"}
        for code in ("spare-parts", "quantum-chips")
    ]
    answer = httpx.post(
        f"{base}/api/trades/",
        json={"seller": "ceres-prime", "buyer": "vesta-yards", "items": items},
        headers=token_header(ana),
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def cells(html: str, commodity: str) -> list[str]:
    row = re.search(rf'<tr data-commodity="{commodity}">(.*?)</tr>', html).group(1)
    return re.findall(r"<td[^>]*>([^<]*)</td>", row)


def test_the_station_pages_and_the_admin_write_units_as_english(client, stock):
    make_trade(stock["ceres"], stock["vesta"], (stock["parts"], 1), (stock["chips"], 1))
    client.force_login(stock["ana"])

    ceres = client.get("/stations/ceres-prime/").content.decode()
    assert cells(ceres, "spare-parts") == ["Spare parts", "100 crates", "0 crates"]
    assert cells(ceres, "quantum-chips") == ["Quantum chips", "2,500 units", "0 units"]
    assert cells(ceres, "water") == ["Water ice", "250 t", "0 t"]
    trade = re.search(r"<tr data-trade=.*?</tr>", ceres).group(0)
    assert "1 crate Spare parts at 10.00 cr; 1 unit Quantum chips at 10.00 cr" in trade
    ledger = re.search(r'<table id="ledger".*?</table>', ceres, re.S).group(0)
    assert "\u22121 crate</td>" in ledger and "\u22121 unit</td>" in ledger
    assert "100 crates</td>" in ledger and "2,500 units</td>" in ledger
    # The chart's unit, for the script: one and many.
    assert 'data-unit="crate" data-units="crates"' in ceres
    assert 'data-unit="t" data-units="t"' in ceres

    vesta = client.get("/stations/vesta-yards/").content.decode()
    assert cells(vesta, "spare-parts") == ["Spare parts", "0 crates", "1 crate"]
    assert cells(vesta, "quantum-chips") == ["Quantum chips", "0 units", "1 unit"]

    # The admin's summary of the lowest stock.
    summary = client.get("/admin/").content.decode()
    low = re.search(r'<tr data-low-stock="vesta-yards/spare-parts">.*?</tr>', summary, re.S)
    assert re.findall(r"<td>([^<]*)</td>", low.group(0)) == ["Spare parts", "0 crates", "1 crate"]


def test_the_pages_scripts_are_given_each_units_plural(client, stock):
    client.force_login(stock["ana"])
    live = client.get("/live/").content.decode()
    names = json.loads(re.search(r'<script id="names" [^>]*>(.*?)</script>', live).group(1))
    assert names["commodities"]["spare-parts"] == {
        "name": "Spare parts",
        "unit": "crate",
        "units": "crates",
    }
    assert names["commodities"]["water"]["units"] == "t"
    commodities = client.get("/map/data/").json()["commodities"]
    assert {c["code"]: c["units"] for c in commodities} == {
        "spare-parts": "crates",
        "quantum-chips": "units",
        "water": "t",
    }


def test_the_live_feed_reads_units_as_english(stream_server, stock, browser_page):
    page = browser_page
    sign_in_to_live_page(page, stream_server, "/live/")
    trade = sell_one_of_each(stream_server, stock["ana"])
    row = page.locator(
        f'li[data-type="trade.initiated"][data-transaction-id="{trade["transaction_id"]}"]'
    )
    row.wait_for(timeout=15_000)
    assert row.inner_text().endswith(f"Ceres Prime sold {SOLD} to Vesta Yards for 4.00 cr")
    for line in (
        "Ceres Prime · Spare parts: 100 crates on hand, 0 crates on its way (dispatch)",
        "Ceres Prime · Quantum chips: 2,500 units on hand, 0 units on its way (dispatch)",
        "Vesta Yards · Spare parts: 0 crates on hand, 1 crate on its way (dispatch)",
        "Vesta Yards · Quantum chips: 0 units on hand, 1 unit on its way (dispatch)",
    ):
        page.wait_for_function(
            "line => document.getElementById('feed').innerText.includes(line)",
            arg=line,
            timeout=15_000,
        )
    # Every count in the feed: one is singular, any other plural.
    counts = re.findall(r"([\d,]+) (unit|crate)(s?)\b", page.inner_text("#feed"))
    assert counts and all((n == "1") == (plural == "") for n, _, plural in counts), counts


def test_the_map_panel_and_the_station_chart_read_units_as_english(
    stream_server, stock, browser_page
):
    trade = sell_one_of_each(stream_server, stock["ana"])
    page = browser_page
    sign_in_to_live_page(page, stream_server, "/map/")
    page.click('[data-station="ceres-prime"] circle')
    stock_rows = "#panel-stock tr[data-commodity]"
    page.wait_for_selector(stock_rows, timeout=10_000)
    shown = page.eval_on_selector_all(
        stock_rows, "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    assert sorted(shown) == [
        ["Quantum chips", "2,500 units", "0 units"],
        ["Spare parts", "100 crates", "0 crates"],
        ["Water ice", "250 t", "0 t"],
    ]
    sold = page.locator(f'#panel-trades [data-panel-trade="{trade["transaction_id"]}"]')
    sold.wait_for(timeout=10_000)
    assert f": {SOLD} (" in sold.inner_text()

    page.goto(f"{stream_server}/stations/ceres-prime/")
    for code, unit in (("spare-parts", "crates"), ("water", "t"), ("quantum-chips", "units")):
        page.select_option("#chart-commodity", code)
        page.wait_for_selector(f"#chart[data-commodity={code}]", timeout=15_000)
        page.wait_for_function(
            "unit => document.getElementById('chart-range').textContent.endsWith(', in ' + unit)",
            arg=unit,
            timeout=15_000,
        )
    assert re.fullmatch(r"\d+ points?, in units", page.inner_text("#chart-range"))
    titles = page.eval_on_selector_all("#chart circle title", "ts => ts.map(t => t.textContent)")
    assert titles and titles[-1].endswith(": on hand 2,500 units, incoming 0 units"), titles
