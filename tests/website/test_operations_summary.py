"""The admin's front page opens with the operator's business: trades today, shipments in
transit and overdue, the lowest stock; only their stations, each figure a link to its list."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from cargo.models import Cargo
from cargo.services import shipment_update
from inventory.services import operator_grant
from tests.factories import CommodityFactory, StationFactory, UserFactory, give_stock, make_trade

pytestmark = pytest.mark.django_db


def figures(html: str) -> dict[str, tuple[int, str]]:
    found = re.findall(
        r'<a class="figure" href="([^"]+)" data-figure="([^"]+)">\s*'
        r'<span class="heading">[^<]+</span>\s*<span class="count">(\d+)</span>',
        html,
    )
    return {name: (int(count), link.replace("&amp;", "&")) for link, name, count in found}


def rows_listed(html: str) -> int:
    body = html.split('id="result_list"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return body.count("<tr")


def test_the_admin_front_page_sums_up_the_operators_own_business(client):
    ceres, titan, vesta = (StationFactory(code=c) for c in ("ceres-prime", "titan", "vesta"))
    water, ore = CommodityFactory(code="water"), CommodityFactory(code="ore")
    for station in (ceres, titan, vesta):
        give_stock(station, water, 100)
        give_stock(station, ore, 40)
    late = make_trade(ceres, titan, (water, 5))
    on_time = make_trade(titan, ceres, (ore, 2))
    make_trade(titan, vesta, (water, 90))  # not ana's: titan and vesta
    make_trade(vesta, titan, (ore, 1))  # nor this one
    for trade in (late, on_time):
        shipment_update(shipment=trade.cargo, status=Cargo.Status.IN_TRANSIT)
    Cargo.objects.filter(pk=late.cargo.pk).update(eta=timezone.now() - timedelta(hours=2))
    ana = UserFactory(username="ana", is_staff=True)
    operator_grant(user=ana, stations=[ceres])
    client.force_login(ana)

    page = client.get("/admin/").content.decode()
    shown = figures(page)
    assert {name: count for name, (count, _) in shown.items()} == {
        "trades-today": 2,
        "in-transit": 2,
        "overdue": 1,
    }
    for heading in ("Trades today", "In transit", "Overdue", "Lowest stock"):
        assert heading in page
    # Each figure's link is the admin list with that many rows.
    for name, (count, link) in shown.items():
        listing = client.get(link)
        assert listing.status_code == 200, (name, link)
        assert rows_listed(listing.content.decode()) == count, (name, link)
    # Lowest stock: ceres' levels only, lowest first (ore 40 - 0 + ...).
    rows = re.findall(r'data-low-stock="([^"]+)"', page)
    assert rows and all(row.startswith("ceres-prime/") for row in rows)
    assert rows[0] == "ceres-prime/ore"
    assert "vesta" not in " ".join(rows)
    # Fewest credits: ana's one station, its available after buying the ore (2 at 10.00).
    assert "Fewest credits to spend" in page
    assert re.findall(r'data-least-credits="([^"]+)"', page) == ["ceres-prime"]
    assert "999980.00 cr" in page


def test_dispatch_staff_see_every_station_in_the_summary(client):
    ceres, titan = StationFactory(code="ceres-prime"), StationFactory(code="titan")
    water = CommodityFactory(code="water")
    for station in (ceres, titan):
        give_stock(station, water, 10)
    make_trade(ceres, titan, (water, 1))
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    shown = figures(client.get("/admin/").content.decode())
    assert shown["trades-today"][0] == 1
