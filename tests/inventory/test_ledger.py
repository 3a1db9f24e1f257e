from __future__ import annotations

import pytest

from cargo.services import shipment_update
from inventory.errors import InsufficientStock
from inventory.models import StockMovement
from inventory.services import stock_adjust
from tests.factories import StationFactory, UserFactory, make_trade
from tests.helpers import assert_ledger_matches_levels, level

pytestmark = pytest.mark.django_db


def test_levels_equal_the_sum_of_the_ledger_after_every_kind_of_movement(
    stocked_ceres, vesta, water, ore
):
    titan = StationFactory(code="titan")
    delivered = make_trade(stocked_ceres, vesta, (water, 10), (ore, 3)).cargo
    shipment_update(shipment=delivered, status="in_transit")
    shipment_update(shipment=delivered, status="delivered")
    cancelled = make_trade(stocked_ceres, titan, (water, 7)).cargo
    shipment_update(shipment=cancelled, status="cancelled")
    lost = make_trade(vesta, titan, (water, 4)).cargo
    shipment_update(shipment=lost, status="in_transit")
    shipment_update(shipment=lost, status="lost")
    stock_adjust(station=vesta, commodity=ore, delta=-1, reason="spoiled", actor=UserFactory())

    assert_ledger_matches_levels()
    kinds = set(StockMovement.objects.values_list("kind", flat=True))
    assert kinds == {"initial", "dispatch", "arrival", "return", "write_off", "adjustment"}


def test_adjustment_cannot_take_on_hand_below_zero(stocked_ceres, water):
    with pytest.raises(InsufficientStock):
        stock_adjust(station=stocked_ceres, commodity=water, delta=-101, reason="count")
    assert level(stocked_ceres, water).on_hand == 100
