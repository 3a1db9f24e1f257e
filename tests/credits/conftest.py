from __future__ import annotations

from decimal import Decimal

import pytest

from tests.factories import CommodityFactory, StationFactory, give_stock


@pytest.fixture
def market(db):
    """A seller with ample water, and a buyer with `funds` credits (100 unless changed with
    `market.fund`)."""

    class Market:
        seller = StationFactory(code="ceres-prime")
        buyer = StationFactory(code="vesta-yards", funds=Decimal("100.00"))
        water = CommodityFactory(code="water")

    give_stock(Market.seller, Market.water, 10_000)
    return Market
