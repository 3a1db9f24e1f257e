from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from cargo.models import Cargo
from core import events
from core.models import OutboxEvent
from inventory.errors import InsufficientStock
from inventory.models import StockMovement
from inventory.services import operator_grant
from tests.factories import CommodityFactory, UserFactory, make_trade
from tests.helpers import assert_ledger_matches_levels, level
from trades.errors import AlreadyPlaced
from trades.models import Trade, TradeLine
from trades.services import LineSpec, trade_initiate, trade_place

pytestmark = pytest.mark.django_db


def test_trade_ships_goods_and_moves_stock_in_one_go(
    stocked_ceres, vesta, water, ore, vesta_grants_ceres
):
    trader = UserFactory()
    operator_grant(user=trader, stations=[stocked_ceres])
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


def outbox(after: int = 0) -> list[tuple[str, dict]]:
    """The events waiting in the outbox after row `after`, oldest first: (type, envelope)."""
    rows = OutboxEvent.objects.filter(id__gt=after).order_by("id")
    return [(row.type, json.loads(json.loads(row.data))) for row in rows]


def outbox_end() -> int:
    return OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def test_a_trade_writes_its_events_in_its_own_transaction(
    stocked_ceres, vesta, water, django_capture_on_commit_callbacks
):
    start = outbox_end()
    with django_capture_on_commit_callbacks() as callbacks:
        trade = make_trade(stocked_ceres, vesta, (water, 5))
    # After the commit only the relay's wake-up is left, a hint: the outbox has the events.
    assert [callback.__name__ for callback in callbacks] == ["wake_relay"]
    written = outbox(after=start)
    assert [event_type for event_type, _ in written] == [
        "inventory.changed",
        "inventory.changed",
        "account.changed",  # the buyer's hold
        "account.changed",  # the seller's incoming credits
        "cargo.created",
        "trade.initiated",
    ]
    initiated = written[-1][1]
    assert initiated["payload"]["transaction_id"] == trade.transaction_id
    assert initiated["payload"]["shipment_id"] == trade.cargo.shipment_id
    assert initiated["payload"]["items"] == [
        {"commodity": "water", "quantity": 5, "unit_price": "10.00"}
    ]
    assert sorted(initiated["stations"]) == ["ceres-prime", "vesta-yards"]
    assert initiated["published_at"]


def test_rolled_back_trade_writes_no_event(stocked_ceres, vesta, water):
    start = outbox_end()
    with pytest.raises(InsufficientStock):
        make_trade(stocked_ceres, vesta, (water, 1000))
    assert outbox(after=start) == []


def test_an_event_outside_a_transaction_is_refused(transactional_db):
    event = events.DomainEvent(type="trade.initiated", payload={})
    with pytest.raises(events.OutsideTransaction):
        events.announce(event)
    assert outbox() == []


def test_one_operations_events_go_out_stock_then_credits_then_shipment_then_trade(
    stocked_ceres, vesta, water
):
    """The order is stated once (core.events.order_in_operation), not left to the order
    in which the apps' receivers happen to run."""
    from cargo.services import shipment_update

    trade = make_trade(stocked_ceres, vesta, (water, 5))
    shipment_update(shipment=trade.cargo, status="in_transit")
    start = outbox_end()
    shipment_update(shipment=trade.cargo, status="delivered")
    assert [event_type for event_type, _ in outbox(after=start)] == [
        "inventory.changed",  # the buyer's goods move from incoming to on hand
        "account.changed",  # the buyer pays
        "account.changed",  # the seller is paid
        "cargo.updated",
        "trade.status_changed",
    ]


def test_the_total_in_sql_is_the_total_in_python(stocked_ceres, vesta, water, ore):
    """The admin sorts by the total PostgreSQL computes; the API shows the one Python does."""
    from trades.models import total_expression

    trades = [
        make_trade(stocked_ceres, vesta, (water, 3)),
        make_trade(stocked_ceres, vesta, (water, 2), (ore, 7)),
    ]
    in_sql = dict(
        Trade.objects.filter(pk__in=[t.pk for t in trades])
        .annotate(total_value=total_expression())
        .values_list("pk", "total_value")
    )
    assert in_sql == {t.pk: Trade.objects.get(pk=t.pk).total for t in trades}


def test_every_line_carries_its_trades_status_through_the_journey(stocked_ceres, vesta, water, ore):
    # The lines' copy is what ?status=&commodity= filters on (TradeLine.trade_status).
    from cargo.services import shipment_update

    trade = make_trade(stocked_ceres, vesta, (water, 3), (ore, 1))
    other = make_trade(stocked_ceres, vesta, (water, 1))

    def statuses(of):
        return set(TradeLine.objects.filter(trade=of).values_list("trade_status", flat=True))

    assert statuses(trade) == {"initiated"}
    for shipment_status, trade_status in (("in_transit", "in_transit"), ("delivered", "completed")):
        shipment_update(shipment=trade.cargo, status=shipment_status)
        trade.refresh_from_db()
        assert trade.status == trade_status
        assert statuses(trade) == {trade_status}
    assert statuses(other) == {"initiated"}  # only the trade that moved
