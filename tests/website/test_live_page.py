"""The live page in a real browser: Debian's Chromium driven by Playwright."""

from __future__ import annotations

import httpx
import pytest

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
def ana_headers():
    ceres = StationFactory(code="ceres-prime")
    grant_agreement(StationFactory(code="vesta-yards"), ceres)  # Vesta lets Ceres sell to it
    give_stock(ceres, CommodityFactory(code="water"), 100)
    ana = UserFactory(username="ana")
    ana.is_staff = True
    ana.save()
    operator_grant(user=ana, stations=[ceres])
    return token_header(ana)


def test_live_page_shows_a_trade_made_through_the_api(
    stream_server, ana_headers, browser_page, tmp_path
):
    page = browser_page

    sign_in_to_live_page(page, stream_server, "/live/")
    assert page.locator("#station-filter option[value=ceres-prime]").count() == 1

    # Every asset is served by us: nothing from another origin.
    requested = []
    page.on("request", lambda request: requested.append(request.url))

    created = post_trade(stream_server, ana_headers, "ceres-prime", "vesta-yards", 6).json()
    row = page.locator(
        f'li[data-type="trade.initiated"][data-transaction-id="{created["transaction_id"]}"]'
    )
    row.wait_for(timeout=15_000)
    assert "Ceres Prime sold 6 t Water to Vesta Yards" in row.inner_text()
    inventory = page.locator('li[data-type="inventory.changed"]').first
    assert "Ceres Prime · Water: 94 t on hand" in inventory.inner_text()
    page.screenshot(path=str(tmp_path / "live.png"))
    assert all(url.startswith(stream_server) for url in requested), requested

    # Filtered to one station, the feed starts afresh with that station's history and news.
    page.select_option("#station-filter", "ceres-prime")
    page.wait_for_selector("body[data-stream=live]", timeout=15_000)
    httpx.patch(
        f"{stream_server}/api/cargo/{created['cargo']['shipment_id']}/",
        json={"status": "in_transit"},
        headers=ana_headers,
        timeout=30,
    ).raise_for_status()
    page.locator('li[data-type="cargo.updated"]').wait_for(timeout=15_000)
    assert "Shipment on its way Ceres Prime → Vesta Yards" in page.inner_text("#feed")
    # Only ceres-prime's events: the buyer's stock changes are not among them.
    stock = page.locator('li[data-type="inventory.changed"]').all_inner_texts()
    assert stock and all("Ceres Prime ·" in line for line in stock), stock
