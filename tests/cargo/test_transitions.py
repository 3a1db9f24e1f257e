from __future__ import annotations

import pytest

from cargo.models import Cargo
from cargo.services import shipment_update, trade_cancel
from core.errors import InvalidTransition
from inventory.models import StockMovement
from tests.factories import UserFactory, make_trade
from tests.helpers import assert_ledger_matches_levels, level
from trades.models import Trade

pytestmark = pytest.mark.django_db


@pytest.fixture
def shipment(stocked_ceres, vesta, water):
    return make_trade(stocked_ceres, vesta, (water, 30)).cargo


def test_departure_puts_goods_in_transit_and_restarts_the_clock(shipment):
    booked_eta = shipment.eta
    shipment_update(shipment=shipment, status="in_transit", note="undocked")

    shipment.refresh_from_db()
    assert shipment.status == Cargo.Status.IN_TRANSIT
    assert shipment.departed_at is not None
    assert shipment.eta > booked_eta
    assert shipment.trade.status == Trade.Status.IN_TRANSIT
    history = list(shipment.tracking_events.values_list("from_status", "to_status", "note"))
    assert history[-1] == ("pending", "in_transit", "undocked")


def test_delivery_turns_incoming_into_on_hand_and_completes_the_trade(shipment, vesta, water):
    courier = UserFactory()
    shipment_update(shipment=shipment, status="in_transit", actor=courier)
    shipment_update(shipment=shipment, status="delivered", actor=courier)

    assert (level(vesta, water).on_hand, level(vesta, water).incoming) == (30, 0)
    assert Trade.objects.get(pk=shipment.trade_id).status == Trade.Status.COMPLETED
    assert Cargo.objects.get(pk=shipment.pk).delivered_at is not None
    arrivals = StockMovement.objects.filter(shipment=shipment, kind="arrival")
    assert sorted(arrivals.values_list("bucket", "delta")) == [("incoming", -30), ("on_hand", 30)]
    assert {m.actor for m in arrivals} == {courier}
    assert_ledger_matches_levels()


def test_cancel_before_departure_returns_stock_to_the_seller(shipment, stocked_ceres, vesta, water):
    trade_cancel(trade=shipment.trade)

    assert level(stocked_ceres, water).on_hand == 100
    assert level(vesta, water).incoming == 0
    assert Trade.objects.get(pk=shipment.trade_id).status == Trade.Status.CANCELLED
    assert Cargo.objects.get(pk=shipment.pk).status == Cargo.Status.CANCELLED
    assert StockMovement.objects.filter(shipment=shipment, kind="return").count() == 2
    assert_ledger_matches_levels()


def test_loss_in_transit_writes_off_the_buyers_incoming(shipment, stocked_ceres, vesta, water):
    shipment_update(shipment=shipment, status="in_transit")
    shipment_update(shipment=shipment, status="lost", note="pirates")

    assert level(vesta, water).incoming == 0
    assert level(vesta, water).on_hand == 0
    assert level(stocked_ceres, water).on_hand == 70
    assert Trade.objects.get(pk=shipment.trade_id).status == Trade.Status.FAILED
    write_off = StockMovement.objects.get(shipment=shipment, kind="write_off")
    assert (write_off.bucket, write_off.delta) == ("incoming", -30)
    assert_ledger_matches_levels()


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ([], "delivered"),  # cannot arrive without departing
        ([], "lost"),
        (["in_transit"], "cancelled"),  # cannot cancel once departed
        (["in_transit"], "pending"),
        (["in_transit", "delivered"], "lost"),
        (["in_transit", "lost"], "delivered"),
        (["cancelled"], "in_transit"),
    ],
)
def test_forbidden_transitions_are_refused_and_change_nothing(shipment, path, refused):
    for status in path:
        shipment_update(shipment=shipment, status=status)
    movements = StockMovement.objects.count()
    history = shipment.tracking_events.count()

    with pytest.raises(InvalidTransition) as excinfo:
        shipment_update(shipment=shipment, status=refused)

    assert excinfo.value.detail["current"] == (path[-1] if path else "pending")
    assert refused in str(excinfo.value)
    assert StockMovement.objects.count() == movements
    assert shipment.tracking_events.count() == history


def test_eta_and_location_can_change_without_a_status_change(shipment):
    new_eta = shipment.eta.replace(year=shipment.eta.year + 1)
    shipment_update(shipment=shipment, eta=new_eta, location_note="passing the belt")
    shipment.refresh_from_db()
    assert (shipment.eta, shipment.location_note, shipment.status) == (
        new_eta,
        "passing the belt",
        "pending",
    )
