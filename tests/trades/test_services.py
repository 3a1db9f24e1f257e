from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models.signals import post_save

from cargo.models import Cargo
from inventory.models import StockMovement
from tests.conftest import assert_ledger_matches_levels, level
from tests.factories import CommodityFactory, UserFactory, make_trade
from tradenet.errors import AlreadyPlaced, InsufficientStock
from trades.models import Trade, TradeLine
from trades.services import LineSpec, trade_initiate, trade_place
from updates import events

pytestmark = pytest.mark.django_db


def test_trade_ships_goods_and_moves_stock_in_one_go(stocked_ceres, vesta, water, ore):
    trader = UserFactory()
    trade = make_trade(stocked_ceres, vesta, (water, 30, "2.50"), (ore, 5, "100.00"), actor=trader)

    assert trade.status == Trade.Status.INITIATED
    assert trade.transaction_id.startswith("txn-")
    assert trade.created_by == trader
    assert trade.total == Decimal("575.00")

    shipment = Cargo.objects.get(trade=trade)
    assert shipment.shipment_id == f"shipment-{trade.transaction_id}"
    assert (shipment.origin, shipment.destination) == (stocked_ceres, vesta)
    assert shipment.status == Cargo.Status.PENDING
    assert [e.to_status for e in shipment.tracking_events.all()] == ["pending"]

    assert (level(stocked_ceres, water).on_hand, level(vesta, water).incoming) == (70, 30)
    assert (level(stocked_ceres, ore).on_hand, level(vesta, ore).incoming) == (45, 5)
    dispatches = StockMovement.objects.filter(trade=trade, kind="dispatch")
    assert dispatches.count() == 4
    assert set(dispatches.values_list("actor", flat=True)) == {trader.pk}
    assert_ledger_matches_levels()


def test_eta_follows_distance_at_cruising_speed(stocked_ceres, water, settings):
    settings.TRADENET_CRUISING_SPEED_LY_PER_DAY = 2.0
    from tests.factories import StationFactory

    near = StationFactory(x=2.0)  # 2 ly away: one day
    far = StationFactory(x=20.0)  # 20 ly away: ten days
    near_trade = make_trade(stocked_ceres, near, (water, 1))
    far_trade = make_trade(stocked_ceres, far, (water, 1))

    near_days = (near_trade.cargo.eta - near_trade.cargo.created_at).total_seconds() / 86400
    far_days = (far_trade.cargo.eta - far_trade.cargo.created_at).total_seconds() / 86400
    assert near_days == pytest.approx(1.0, abs=0.01)
    assert far_days == pytest.approx(10.0, abs=0.01)


def test_trade_rolls_back_whole_when_any_line_lacks_stock(stocked_ceres, vesta, water, ore):
    movements_before = StockMovement.objects.count()

    with pytest.raises(InsufficientStock) as excinfo:
        make_trade(stocked_ceres, vesta, (water, 10), (ore, 51))

    assert excinfo.value.detail == {
        "station": "ceres-prime",
        "commodity": "iron-ore",
        "requested": 51,
        "available": 50,
    }
    assert "iron-ore" in str(excinfo.value) and "51" in str(excinfo.value)
    assert not Trade.objects.exists()
    assert not TradeLine.objects.exists()
    assert not Cargo.objects.exists()
    assert StockMovement.objects.count() == movements_before
    assert level(stocked_ceres, water).on_hand == 100


def test_commodity_never_stocked_is_refused_with_zero_available(ceres, vesta):
    unobtainium = CommodityFactory(code="unobtainium")
    with pytest.raises(InsufficientStock) as excinfo:
        make_trade(ceres, vesta, (unobtainium, 1))
    assert excinfo.value.detail["available"] == 0


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([], "items"),
        ([("water", 0)], "items"),
        ([("water", -3)], "items"),
        ([("water", 1), ("water", 2)], "items"),
    ],
)
def test_impossible_trades_are_refused_with_field_messages(
    stocked_ceres, vesta, water, lines, field
):
    specs = [LineSpec(water, qty, Decimal("1")) for _, qty in lines]
    with pytest.raises(ValidationError) as excinfo:
        trade_initiate(seller=stocked_ceres, buyer=vesta, lines=specs)
    assert field in excinfo.value.message_dict
    assert not Trade.objects.exists()


def test_a_station_cannot_trade_with_itself(stocked_ceres, water):
    with pytest.raises(ValidationError) as excinfo:
        make_trade(stocked_ceres, stocked_ceres, (water, 1))
    assert "buyer" in excinfo.value.message_dict


def test_a_trade_is_placed_exactly_once(stocked_ceres, vesta, water):
    trade = make_trade(stocked_ceres, vesta, (water, 5))
    with pytest.raises(AlreadyPlaced):
        trade_place(trade=trade)
    assert level(stocked_ceres, water).on_hand == 95
    assert Cargo.objects.filter(trade=trade).count() == 1


def test_events_are_announced_only_after_commit(
    stocked_ceres, vesta, water, django_capture_on_commit_callbacks
):
    published = []
    events.subscribe(published.extend)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            trade = make_trade(stocked_ceres, vesta, (water, 5))
        assert published == []  # nothing leaves before the commit
        assert len(callbacks) == 1  # the trade's events leave together
        for callback in callbacks:
            callback()
    finally:
        events._subscribers.remove(published.extend)
    types = [e.type for e in published]
    assert types.count("trade.initiated") == 1
    assert types.count("cargo.created") == 1
    assert types.count("inventory.changed") == 2
    initiated = next(e for e in published if e.type == "trade.initiated")
    assert initiated.payload["transaction_id"] == trade.transaction_id
    assert initiated.payload["shipment_id"] == trade.cargo.shipment_id


def test_rolled_back_trade_announces_nothing(
    stocked_ceres, vesta, water, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(InsufficientStock):
        make_trade(stocked_ceres, vesta, (water, 1000))
    assert callbacks == []


def test_receivers_are_connected_to_trade_post_save():
    sync_receivers, _ = post_save._live_receivers(Trade)
    names = {receiver.__name__ for receiver in sync_receivers}
    assert "dispatch_stock_for_placed_trade" in names
    assert "create_shipment_for_placed_trade" in names
