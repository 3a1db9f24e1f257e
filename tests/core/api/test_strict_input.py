"""Writes take only what they name, in the types they name; every 400 names what was sent.

Specifies core/api/serializers.py, core/api/filters.py, the ETA rule of
cargo.services.shipment_check_eta, and the JSON answers under /api/ (core/views.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from cargo.models import Cargo
from cargo.services import shipment_update
from inventory.models import StockMovement
from tests.factories import make_trade
from trades.models import Trade

pytestmark = pytest.mark.django_db


def trade_body(**line):
    return {
        "seller": "ceres-prime",
        "buyer": "vesta-yards",
        "items": [{"commodity": "water", "quantity": 3, "unit_price": "10.00"} | line],
    }


def assert_nothing_written():
    assert not Trade.objects.exists()
    assert not Cargo.objects.exists()
    assert not StockMovement.objects.exclude(kind="initial").exists()


@pytest.mark.parametrize("unknown", ["status", "total", "seler"])
def test_an_unknown_trade_field_is_a_400_naming_it(api, ceres_op, stocked_ceres, vesta, unknown):
    body = trade_body() | {unknown: "completed"}
    response = api(ceres_op).post("/api/trades/", body, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == [unknown]
    assert response.json()["message"].startswith(f"{unknown}: Unknown field")
    assert_nothing_written()


def test_an_unknown_line_field_is_a_400_naming_its_path(api, ceres_op, stocked_ceres, vesta):
    response = api(ceres_op).post("/api/trades/", trade_body(subtotal="1.00"), format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["items[0].subtotal"]
    assert_nothing_written()


@pytest.mark.parametrize("quantity", ["3", 2.5, 3.0, 1e3, True, [3], {"n": 3}])
def test_a_quantity_must_be_a_json_integer(api, ceres_op, stocked_ceres, vesta, quantity):
    response = api(ceres_op).post("/api/trades/", trade_body(quantity=quantity), format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["items[0].quantity"]
    assert "JSON integer" in response.json()["errors"]["items[0].quantity"][0]
    assert_nothing_written()


def test_an_exponent_in_the_raw_body_is_refused(api, ceres_op, stocked_ceres, vesta):
    raw = (
        b'{"seller": "ceres-prime", "buyer": "vesta-yards", '
        b'"items": [{"commodity": "water", "quantity": 1e1, "unit_price": "1.00"}]}'
    )
    response = api(ceres_op).post("/api/trades/", raw, content_type="application/json")
    assert response.status_code == 400
    assert "items[0].quantity" in response.json()["errors"]


def test_a_json_integer_quantity_is_accepted(
    api, ceres_op, stocked_ceres, vesta, vesta_grants_ceres
):
    response = api(ceres_op).post("/api/trades/", trade_body(quantity=3), format="json")
    assert response.status_code == 201, response.content


def test_an_adjustment_delta_must_be_a_json_integer(api, dispatcher, stocked_ceres):
    response = api(dispatcher).post(
        "/api/inventory/ceres-prime/adjustments/",
        {"commodity": "water", "delta": "5", "reason": "count"},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["delta"]


def test_an_unknown_webhook_field_is_a_400_naming_it(api, ceres_op):
    response = api(ceres_op).post(
        "/api/webhooks/", {"url": "https://hooks.example.com/x", "secret": "mine"}, format="json"
    )
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["secret"]


# Query parameters


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("1", True), ("TRUE", True), ("false", False), ("0", False)],
)
def test_overdue_takes_true_false_1_0(
    api, dispatcher, stocked_ceres, vesta, water, value, expected
):
    late = make_trade(stocked_ceres, vesta, (water, 1)).cargo
    on_time = make_trade(stocked_ceres, vesta, (water, 1)).cargo
    for shipment in (late, on_time):
        shipment_update(shipment=shipment, status="in_transit")
    Cargo.objects.filter(pk=late.pk).update(eta=timezone.now() - timedelta(hours=1))

    response = api(dispatcher).get(f"/api/cargo/?overdue={value}")
    assert response.status_code == 200
    ids = {row["shipment_id"] for row in response.json()["results"]}
    assert ids == ({late.shipment_id} if expected else {on_time.shipment_id})


@pytest.mark.parametrize("value", ["yes", "maybe", "2", "on"])
def test_overdue_refuses_anything_else_naming_the_parameter(api, dispatcher, value):
    response = api(dispatcher).get(f"/api/cargo/?overdue={value}")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["overdue"]
    assert response.json()["message"].startswith("overdue: ")


def test_a_boolean_column_filter_is_strict_too(api, ceres_op):
    assert api(ceres_op).get("/api/webhooks/?is_active=1").status_code == 200
    response = api(ceres_op).get("/api/webhooks/?is_active=maybe")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["is_active"]


@pytest.mark.parametrize("parameter", ["created_after", "created_before"])
@pytest.mark.parametrize("path", ["/api/trades/", "/api/inventory/ceres-prime/movements/"])
def test_a_bad_date_names_the_parameter_sent(api, dispatcher, ceres, path, parameter):
    response = api(dispatcher).get(f"{path}?{parameter}=yesterday")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [parameter]


# The shipment's ETA


@pytest.fixture
def pending(stocked_ceres, vesta, water):
    return make_trade(stocked_ceres, vesta, (water, 1)).cargo


def test_an_eta_in_the_past_for_a_pending_shipment_is_a_400(api, dispatcher, pending):
    before = Cargo.objects.get(pk=pending.pk).eta
    response = api(dispatcher).patch(
        f"/api/cargo/{pending.shipment_id}/", {"eta": "2020-01-01T00:00:00Z"}, format="json"
    )
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["eta"]
    assert "in the past" in response.json()["message"]
    assert Cargo.objects.get(pk=pending.pk).eta == before


def test_an_eta_before_departure_is_a_400(api, dispatcher, pending):
    shipment_update(shipment=pending, status="in_transit")
    departed = Cargo.objects.get(pk=pending.pk).departed_at
    earlier = (departed - timedelta(minutes=5)).isoformat()
    response = api(dispatcher).put(
        f"/api/cargo/update/{pending.shipment_id}", {"ETA": earlier}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "before the shipment departed" in response.json()["errors"]["eta"][0]


def test_departing_with_an_eta_already_past_is_a_400_and_changes_nothing(api, dispatcher, pending):
    response = api(dispatcher).patch(
        f"/api/cargo/{pending.shipment_id}/",
        {"status": "in_transit", "eta": (timezone.now() - timedelta(hours=1)).isoformat()},
        format="json",
    )
    assert response.status_code == 400
    shipment = Cargo.objects.get(pk=pending.pk)
    assert (shipment.status, shipment.departed_at) == ("pending", None)
    assert shipment.trade.status == "initiated"


def test_a_later_eta_is_accepted(api, dispatcher, pending):
    later = (timezone.now() + timedelta(days=3)).isoformat()
    response = api(dispatcher).patch(
        f"/api/cargo/{pending.shipment_id}/", {"eta": later}, format="json"
    )
    assert response.status_code == 200, response.content


# JSON under /api/, in development too


@pytest.mark.parametrize("path", ["/api/", "/api/nope/", "/api/trades/x/y/z/"])
@override_settings(DEBUG=True)
def test_unknown_api_paths_answer_json_404_with_debug_on(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "code": "not_found"}


@pytest.mark.parametrize("value", ["abc", "-1", "0", "2.5"])
def test_a_bad_page_size_is_a_400_naming_it(api, dispatcher, value):
    response = api(dispatcher).get(f"/api/trades/?page_size={value}")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["page_size"]


def test_a_page_size_over_the_limit_is_capped_as_documented(api, dispatcher):
    assert api(dispatcher).get("/api/trades/?page_size=5000").status_code == 200


def test_an_unknown_ordering_is_a_400_naming_what_is_allowed(api, dispatcher):
    response = api(dispatcher).get("/api/cargo/?ordering=password")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["ordering"]
    assert "created_at, eta" in response.json()["message"]
    assert api(dispatcher).get("/api/cargo/?ordering=-eta").status_code == 200
