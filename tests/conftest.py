from __future__ import annotations

import pytest

from inventory.models import StockLevel, StockMovement
from tests.factories import CommodityFactory, StationFactory, give_stock


@pytest.fixture
def ceres(db):
    return StationFactory(code="ceres-prime", x=0.0)


@pytest.fixture
def vesta(db):
    return StationFactory(code="vesta-yards", x=4.0)


@pytest.fixture
def water(db):
    return CommodityFactory(code="water")


@pytest.fixture
def ore(db):
    return CommodityFactory(code="iron-ore")


@pytest.fixture
def stocked_ceres(ceres, water, ore):
    give_stock(ceres, water, 100)
    give_stock(ceres, ore, 50)
    return ceres


def level(station, commodity) -> StockLevel:
    return StockLevel.objects.get(station=station, commodity=commodity)


def assert_ledger_matches_levels() -> None:
    """Every level equals the sum of its ledger rows, bucket by bucket."""
    sums: dict[tuple[int, int, str], int] = {}
    for m in StockMovement.objects.all():
        key = (m.station_id, m.commodity_id, m.bucket)
        sums[key] = sums.get(key, 0) + m.delta
    levels = list(StockLevel.objects.all())
    assert levels, "no stock levels to check"
    for lvl in levels:
        assert lvl.on_hand == sums.get((lvl.station_id, lvl.commodity_id, "on_hand"), 0), lvl
        assert lvl.incoming == sums.get((lvl.station_id, lvl.commodity_id, "incoming"), 0), lvl
