"""The pages as a station operator meets them, in Chromium: the bundled galaxy on the map
(selection without artefacts, names that click, labels that never pile up, every station
shown or pointed at), /live/ opening with its history in words, one header everywhere, the
station page's units and ledger table, and the admin at 1366 px."""

from __future__ import annotations

import io
import re
from pathlib import Path

import httpx
import pytest
from django.core.management import call_command
from django.test import override_settings

from credits.services import credits_open_funds
from inventory.models import Station
from inventory.seeding import load_galaxy, read_galaxy_file
from inventory.services import operator_grant
from tests.factories import UserFactory
from tests.helpers import post_trade, sign_in_to_live_page, token_header

pytestmark = pytest.mark.django_db(transaction=True)

GALAXY = Path(__file__).resolve().parents[2] / "inventory" / "data" / "galaxy.json"
LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture
def bundled_galaxy():
    load_galaxy(read_galaxy_file(GALAXY))
    credits_open_funds(stations=Station.objects.all())  # as seed_stations funds them
    ana = UserFactory(username="ana", is_staff=True)
    operator_grant(user=ana, stations=list(Station.objects.filter(code__in=["ceres-prime"])))
    call_command("seed_agreements", "--no-progress")  # as make run grants the demo's
    dispatch = UserFactory(username="dispatch", is_superuser=True, is_staff=True)
    return {"ana": ana, "headers": token_header(ana), "dispatch": dispatch}


def changed_box(before: bytes, after: bytes):
    """The bounding box (left, top, right, bottom) of the pixels that differ, or None."""
    from PIL import Image, ImageChops

    one = Image.open(io.BytesIO(before)).convert("RGB")
    two = Image.open(io.BytesIO(after)).convert("RGB")
    assert one.size == two.size
    return ImageChops.difference(one, two).getbbox()


def overlapping(boxes: list[dict]) -> list[tuple[str, str]]:
    found = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            if (
                a["x"] < b["x"] + b["w"] - 0.5
                and b["x"] < a["x"] + a["w"] - 0.5
                and a["y"] < b["y"] + b["h"] - 0.5
                and b["y"] < a["y"] + a["h"] - 0.5
            ):
                found.append((a["text"], b["text"]))
    return found


VISIBLE_LABELS = """() => [...document.querySelectorAll('#galaxy text.label')]
  .filter((t) => t.getClientRects().length && getComputedStyle(t).display !== 'none')
  .map((t) => { const r = t.getBoundingClientRect();
                return {text: t.textContent, x: r.x, y: r.y, w: r.width, h: r.height}; })"""

ACCOUNTED_FOR = """() => {
  const codes = new Set();
  document.querySelectorAll('[data-station]').forEach((g) => {
    if (g.style.display !== 'none') codes.add(g.dataset.station); });
  document.querySelectorAll('[data-cluster], [data-edge]').forEach((g) =>
    (g.dataset.cluster || g.dataset.edge).split(' ').forEach((c) => codes.add(c)));
  return [...codes].sort(); }"""


SOL_EARTH_ON_SCREEN = """() => {
  const g = document.querySelector('[data-station="sol-earth"]');
  if (g.style.display !== 'none') {
    const m = g.querySelector('g.mark'); return [+m.dataset.x, +m.dataset.y]; }
  const c = document.querySelector('[data-cluster~="sol-earth"] circle');
  return [+c.getAttribute('cx'), +c.getAttribute('cy')]; }"""


def open_map(page, server, username="dispatch"):
    page.set_viewport_size(LAPTOP)
    sign_in_to_live_page(page, server, "/map/", username=username)
    page.mouse.move(2, 2)


@pytest.mark.parametrize("code", ["titan-refinery", "wolf-359-depot", "sirius-exchange"])
def test_selecting_a_station_changes_only_its_own_mark(
    stream_server, bundled_galaxy, browser_page, code
):
    page = browser_page
    open_map(page, stream_server)
    galaxy = page.locator("#galaxy")
    mark = page.locator(f'[data-station="{code}"] g.mark')
    assert mark.is_visible(), f"{code} is not drawn on its own in the first view"
    page.wait_for_timeout(300)
    before = galaxy.screenshot()

    page.locator(f'[data-station="{code}"] g.mark').click()
    page.wait_for_selector(f'#panel[data-station="{code}"]')
    page.mouse.move(2, 2)  # no hover underline in the picture
    page.wait_for_timeout(300)
    after = galaxy.screenshot()

    box = changed_box(before, after)
    assert box is not None, "selection drew nothing"
    x, y = float(mark.get_attribute("data-x")), float(mark.get_attribute("data-y"))
    name_width = len(Station.objects.get(code=code).name) * 8 + 20
    left, top, right, bottom = box
    # Only the ring around the mark and the label beside it may change: no rings or focus
    # outlines over the rest of the map.
    assert left >= x - 40 - name_width and right <= x + 40 + name_width, (box, x, y)
    assert top >= y - 30 and bottom <= y + 30, (box, x, y)


def test_station_names_are_clickable(stream_server, bundled_galaxy, browser_page):
    page = browser_page
    open_map(page, stream_server)
    label = page.locator('[data-station="sirius-exchange"] text.label')
    assert label.text_content() == "Sirius Exchange"
    label.click()
    page.wait_for_selector('#panel[data-station="sirius-exchange"]')
    assert page.inner_text("#panel-title") == "Sirius Exchange"


def test_labels_never_overlap_and_every_station_is_shown_or_pointed_at(
    stream_server, bundled_galaxy, browser_page
):
    page = browser_page
    open_map(page, stream_server)
    every = sorted(Station.objects.values_list("code", flat=True))
    for step in range(9):  # the first view, then 8 zoom steps into the Sol stations
        labels = page.evaluate(VISIBLE_LABELS)
        assert len(labels) >= 3, (step, labels)
        assert overlapping(labels) == [], (step, overlapping(labels))
        assert page.evaluate(ACCOUNTED_FOR) == every, step
        box = page.evaluate(SOL_EARTH_ON_SCREEN)
        origin = page.locator("#galaxy").bounding_box()
        page.mouse.move(origin["x"] + box[0], origin["y"] + box[1])
        page.mouse.wheel(0, -200)
        page.wait_for_timeout(250)
    # Zooming on into Sol (Earth and Luna Gateway are 0.02 ly apart), its four stations come
    # apart and are labelled by name, still without overlaps.
    sol = {"Earth", "Mars Dockyards", "Ceres Prime", "Luna Gateway"}
    for _ in range(20):
        labels = page.evaluate(VISIBLE_LABELS)
        assert overlapping(labels) == []
        if sol <= {label["text"] for label in labels}:
            break
        box = page.evaluate(SOL_EARTH_ON_SCREEN)
        origin = page.locator("#galaxy").bounding_box()
        page.mouse.move(origin["x"] + box[0], origin["y"] + box[1])
        page.mouse.wheel(0, -200)
        page.wait_for_timeout(250)
    assert sol <= {label["text"] for label in page.evaluate(VISIBLE_LABELS)}


def test_the_first_view_says_where_the_far_stations_are(
    stream_server, bundled_galaxy, browser_page
):
    page = browser_page
    open_map(page, stream_server)
    edge = page.locator('[data-edge~="kepler-442-colony"]')
    assert edge.count() == 1
    assert re.search(r"Kepler-442 Colony · [\d,]+ ly", edge.text_content())
    assert "off-screen" in page.inner_text("#counts")
    edge.locator("text").click()  # its name brings it into view
    page.wait_for_function(
        "document.querySelector('[data-station=\"kepler-442-colony\"]').style.display !== 'none'"
    )
    page.click("#show-all")
    page.wait_for_function("document.getElementById('counts').dataset.offscreen === '0'")


def test_the_caption_counts_in_words(stream_server, bundled_galaxy, browser_page):
    post_trade(stream_server, bundled_galaxy["headers"], "ceres-prime", "sol-mars", 1)
    page = browser_page
    open_map(page, stream_server, username="ana")
    page.wait_for_function("document.getElementById('counts').dataset.shipments === '1'")
    assert "1 shipment on its way" in page.inner_text("#counts")


def test_live_opens_with_history_in_words(stream_server, bundled_galaxy, browser_page):
    headers = bundled_galaxy["headers"]
    trade = post_trade(stream_server, headers, "ceres-prime", "sol-mars", 6).json()
    shipment = trade["cargo"]["shipment_id"]
    for change in ({"status": "in_transit", "location_note": "undocked at bay 7"},):
        httpx.patch(f"{stream_server}/api/cargo/{shipment}/", json=change, headers=headers,
                    timeout=30).raise_for_status()  # fmt: skip
    dispatch = token_header(bundled_galaxy["dispatch"])
    httpx.patch(f"{stream_server}/api/cargo/{shipment}/", json={"status": "delivered"},
                headers=dispatch, timeout=30).raise_for_status()  # fmt: skip

    page = browser_page
    sign_in_to_live_page(page, stream_server, "/live/")
    sold = page.locator(
        f'li[data-type="trade.initiated"][data-transaction-id="{trade["transaction_id"]}"]'
    )
    sold.wait_for(timeout=15_000)  # history: it happened before the page opened
    assert sold.inner_text().endswith("Ceres Prime sold 6 t Water ice to Mars Dockyards for "
                                      f"{float(trade['total']):,.2f} cr")  # fmt: skip
    page.locator('li[data-type="cargo.updated"]').first.wait_for()
    feed = page.inner_text("#feed")
    assert "Shipment delivered to Mars Dockyards from Ceres Prime" in feed
    assert "delivered — undocked" not in feed  # the old note is not the delivery's
    assert "Trade Ceres Prime → Mars Dockyards completed (was in transit)" in feed
    for raw in ("in_transit", "trade.status_changed", "cargo.updated", "ceres-prime"):
        assert raw not in feed, raw
    assert "Shipment" in feed and "Stock" in feed and "Trade" in feed  # badges in words


def test_live_with_no_history_says_it_is_waiting(stream_server, browser_page):
    UserFactory(username="ana", is_staff=True)
    page = browser_page
    sign_in_to_live_page(page, stream_server, "/live/")
    page.wait_for_selector("#feed li.waiting")
    assert "waiting for what happens next" in page.inner_text("#feed")


def test_one_header_on_every_page_and_sign_out(stream_server, bundled_galaxy, browser_page):
    page = browser_page
    sign_in_to_live_page(page, stream_server, "/live/")
    for path in ("/", "/map/", "/live/", "/stations/ceres-prime/", "/stations/vega-orbital/"):
        page.goto(f"{stream_server}{path}")
        header = page.locator("header.site-header")
        assert header.count() == 1, path
        hrefs = header.locator("a").evaluate_all(
            "(links) => links.map((a) => a.pathname.replace(/(.)\\/$/, '$1'))"
        )
        for wanted in ("/", "/map", "/live", "/stations/ceres-prime", "/api/docs", "/admin"):
            assert wanted in hrefs, (path, wanted, hrefs)
        assert header.locator("button", has_text="Sign out").count() == 1
    # Another operator's station: the plain 404 page, with the header, nothing else.
    response = page.goto(f"{stream_server}/stations/vega-orbital/")
    assert response.status == 404
    assert "Not found" in page.inner_text("main")

    page.goto(f"{stream_server}/")
    assert page.locator("#my-stations a", has_text="Ceres Prime").count() == 1
    page.click("text=Sign out")
    page.goto(f"{stream_server}/map/")
    assert "/admin/login/" in page.url


def test_the_station_page_speaks_in_units_and_shows_the_ledger_as_a_table(
    stream_server, bundled_galaxy, browser_page
):
    post_trade(stream_server, bundled_galaxy["headers"], "ceres-prime", "sol-mars", 4)
    page = browser_page
    page.set_viewport_size(LAPTOP)
    sign_in_to_live_page(page, stream_server, "/stations/ceres-prime/")
    water = page.inner_text('#stock tr[data-commodity="water"]')
    assert re.search(r"Water ice\s+[\d,]+ t\s+0 t", water), water
    assert "(water)" not in page.inner_text("main")
    headers = page.locator("#ledger thead th").all_inner_texts()
    assert headers[:6] == ["When", "Commodity", "Entry", "Stock", "Change", "Balance after"]
    dispatched = page.locator("#ledger tbody tr.dispatch").first.inner_text()
    assert "Dispatched to the buyer" in dispatched and "\u22124 t" in dispatched
    width = page.locator("#ledger").bounding_box()["width"]
    assert width > 0.8 * LAPTOP["width"], width
    assert "Sold to Mars Dockyards" in page.inner_text("#trades")


def test_the_admin_lists_fit_a_laptop_and_show_labels(stream_server, bundled_galaxy, browser_page):
    trade = post_trade(stream_server, bundled_galaxy["headers"], "ceres-prime", "sol-mars", 2)
    httpx.patch(f"{stream_server}/api/cargo/{trade.json()['cargo']['shipment_id']}/",
                json={"status": "in_transit"}, headers=bundled_galaxy["headers"],
                timeout=30).raise_for_status()  # fmt: skip
    page = browser_page
    page.set_viewport_size(LAPTOP)
    page.goto(f"{stream_server}/admin/login/")
    page.fill("#id_username", "dispatch")
    page.fill("#id_password", "pw-correct-horse-42")
    page.click("input[type=submit]")
    page.wait_for_url(f"{stream_server}/admin/")

    for path, columns in (
        ("/admin/trades/trade/", 8),
        ("/admin/inventory/stockmovement/", 10),
        ("/admin/cargo/cargo/", 9),
    ):
        page.goto(f"{stream_server}{path}")
        table = page.locator("#result_list")
        fits = table.evaluate("(t) => t.getBoundingClientRect().right <= window.innerWidth")
        assert fits, path
        assert table.locator("thead th").count() >= columns, path
        assert "(in_transit)" not in page.inner_text("#result_list")
        assert "(ceres-prime)" not in page.inner_text("#result_list")
    page.goto(f"{stream_server}/admin/trades/trade/")
    assert "In transit" in page.inner_text("#result_list td.field-shipment_link")

    shipment = trade.json()["cargo"]["shipment_id"]
    from cargo.models import Cargo

    page.goto(f"{stream_server}/admin/cargo/cargo/{Cargo.objects.get(shipment_id=shipment).pk}/")
    assert page.get_by_text(re.compile(r"^ETA:?$")).count() == 1
    assert page.get_by_text(re.compile(r"^Eta:?$")).count() == 0
    assert page.locator(".inline-group td.original p:visible").count() == 0

    page.goto(f"{stream_server}/admin/")
    sections = page.locator("#content-main .module caption, #content-main .module h2")
    names = [name.strip().upper() for name in sections.all_inner_texts()]
    operational = [i for i, name in enumerate(names) if name.startswith("OPERATIONS:")]
    assert operational == [len(names) - 1], names  # the machinery comes last, together
    assert not any(name in ("AXES", "KNOX") for name in names), names


def test_the_admin_of_an_operator_has_no_operational_records(
    stream_server, bundled_galaxy, browser_page
):
    page = browser_page
    page.goto(f"{stream_server}/admin/login/")
    page.fill("#id_username", "ana")
    page.fill("#id_password", "pw-correct-horse-42")
    page.click("input[type=submit]")
    page.wait_for_url(f"{stream_server}/admin/")
    text = page.inner_text("#content-main")
    for machinery in ("Access attempts", "Auth tokens", "Idempotency", "Operations:"):
        assert machinery not in text


@override_settings(DEBUG=True)
def test_a_station_one_may_not_see_is_the_plain_404_with_debug_on(client, bundled_galaxy):
    client.force_login(bundled_galaxy["ana"])
    response = client.get("/stations/vega-orbital/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Not found" in body and "URLconf" not in body and "urlpatterns" not in body
