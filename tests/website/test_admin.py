"""Station operators in the Django admin, through Django's test client."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from cargo.models import Cargo
from inventory.models import StockMovement
from tests.factories import StationFactory, give_stock, make_trade
from tests.helpers import assert_ledger_matches_levels, level, trade_form
from trades.models import Trade

pytestmark = pytest.mark.django_db


def operator_of(*stations, username="op"):
    call_command("add_operator", username, *[s.code for s in stations], "--password", "pw-x-12345")
    return get_user_model().objects.get(username=username)


@pytest.fixture
def titan(db):
    return StationFactory(code="titan-refinery")


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("root", password="pw-root-12345")


def test_trade_created_in_admin_runs_the_flow_once(
    client, admin_user, stocked_ceres, vesta, water, ore
):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:trades_trade_add"),
        trade_form(stocked_ceres, vesta, (water, 12, "3.00"), (ore, 4, "9.50")),
    )
    assert response.status_code == 302, response.context["errors"] if response.context else response
    trade = Trade.objects.get()
    assert trade.created_by == admin_user
    assert trade.lines.count() == 2
    assert Cargo.objects.filter(trade=trade).count() == 1
    assert StockMovement.objects.filter(trade=trade, kind="dispatch").count() == 4
    assert (level(stocked_ceres, water).on_hand, level(vesta, water).incoming) == (88, 12)
    assert_ledger_matches_levels()


def test_admin_trade_without_enough_stock_shows_the_shortage_and_writes_nothing(
    client, admin_user, stocked_ceres, vesta, water
):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:trades_trade_add"), trade_form(stocked_ceres, vesta, (water, 500, "1.00"))
    )
    assert response.status_code == 200
    assert "Not enough water at ceres-prime: asked for 500, 100 available." in response.text
    assert not Trade.objects.exists()


def test_operator_sees_only_their_stations_records(client, stocked_ceres, vesta, titan, water):
    give_stock(vesta, water, 10)
    ours = make_trade(stocked_ceres, vesta, (water, 1))
    theirs = make_trade(vesta, titan, (water, 1))
    client.force_login(operator_of(titan, username="titan-op"))

    listing = client.get(reverse("admin:trades_trade_changelist"))
    assert theirs.transaction_id in listing.text
    assert ours.transaction_id not in listing.text

    # Another station's trade and shipment are simply not there for this operator.
    foreign = client.get(reverse("admin:trades_trade_change", args=[ours.pk]))
    assert foreign.status_code == 302
    assert client.get(reverse("admin:cargo_cargo_change", args=[ours.cargo.pk])).status_code == 302
    ledger = client.get(reverse("admin:inventory_stockmovement_changelist"))
    assert "ceres-prime" not in ledger.text
    stations = client.get(reverse("admin:inventory_station_changelist"))
    assert "titan-refinery" in stations.text and "ceres-prime" not in stations.text


def test_operator_cannot_sell_from_another_station(client, stocked_ceres, vesta, titan, water):
    client.force_login(operator_of(titan, username="titan-op"))
    response = client.post(
        reverse("admin:trades_trade_add"), trade_form(stocked_ceres, vesta, (water, 1, "1.00"))
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.text
    assert not Trade.objects.exists()
    assert level(stocked_ceres, water).on_hand == 100


def test_operator_sells_from_own_station(client, stocked_ceres, vesta, water, vesta_grants_ceres):
    operator = operator_of(stocked_ceres)
    client.force_login(operator)
    response = client.post(
        reverse("admin:trades_trade_add"), trade_form(stocked_ceres, vesta, (water, 7, "1.00"))
    )
    assert response.status_code == 302
    assert Trade.objects.get().created_by == operator
    assert level(stocked_ceres, water).on_hand == 93


def shipment_form(shipment, status, note=""):
    return {
        "status": status,
        "eta_0": shipment.eta.strftime("%Y-%m-%d"),
        "eta_1": shipment.eta.strftime("%H:%M:%S"),
        "location_note": "",
        "note": note,
        "tracking_events-TOTAL_FORMS": "0",
        "tracking_events-INITIAL_FORMS": "0",
        "tracking_events-MIN_NUM_FORMS": "0",
        "tracking_events-MAX_NUM_FORMS": "0",
    }


def test_shipment_moves_in_admin_follow_the_rules_and_write_the_ledger(
    client, stocked_ceres, vesta, water
):
    shipment = make_trade(stocked_ceres, vesta, (water, 10)).cargo
    origin_op = operator_of(stocked_ceres, username="ceres-op")
    destination_op = operator_of(vesta, username="vesta-op")
    url = reverse("admin:cargo_cargo_change", args=[shipment.pk])

    # Only the origin may mark departure.
    client.force_login(destination_op)
    refused = client.post(url, shipment_form(shipment, "in_transit"))
    assert refused.status_code == 200
    assert Cargo.objects.get(pk=shipment.pk).status == "pending"

    client.force_login(origin_op)
    assert client.post(url, shipment_form(shipment, "in_transit", "undocked")).status_code == 302
    shipment.refresh_from_db()
    assert shipment.status == "in_transit"

    # Delivery is the destination's call, and a jump back to pending is not offered.
    assert client.post(url, shipment_form(shipment, "pending")).status_code == 200
    client.force_login(destination_op)
    assert client.post(url, shipment_form(shipment, "delivered")).status_code == 302
    assert level(vesta, water).on_hand == 10
    assert Trade.objects.get(pk=shipment.trade_id).status == "completed"
    history = list(shipment.tracking_events.values_list("to_status", "actor__username", "note"))
    assert history == [
        ("pending", None, "shipment created"),
        ("in_transit", "ceres-op", "undocked"),
        ("delivered", "vesta-op", ""),
    ]
    assert_ledger_matches_levels()


def test_ledger_and_tracking_history_are_read_only(client, admin_user, stocked_ceres, vesta, water):
    trade = make_trade(stocked_ceres, vesta, (water, 1))
    client.force_login(admin_user)
    movement = StockMovement.objects.filter(trade=trade).first()
    change_url = reverse("admin:inventory_stockmovement_change", args=[movement.pk])
    page = client.get(change_url)
    assert page.status_code == 200
    assert 'name="delta"' not in page.text  # shown, not editable
    client.post(change_url, {"delta": 999})
    assert StockMovement.objects.get(pk=movement.pk).delta == movement.delta
    assert client.get(reverse("admin:inventory_stockmovement_add")).status_code == 403
    assert client.get(reverse("admin:cargo_cargo_add")).status_code == 403


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:inventory_station_changelist",
        "admin:inventory_commodity_changelist",
        "admin:inventory_stocklevel_changelist",
        "admin:inventory_stockmovement_changelist",
        "admin:trades_trade_changelist",
        "admin:cargo_cargo_changelist",
        "admin:trades_trade_add",
    ],
)
def test_every_admin_page_renders(client, admin_user, stocked_ceres, vesta, water, url_name):
    make_trade(stocked_ceres, vesta, (water, 1))
    client.force_login(admin_user)
    assert client.get(reverse(url_name)).status_code == 200
