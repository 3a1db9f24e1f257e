from __future__ import annotations

import pytest

from cargo.models import Cargo
from tests.factories import make_trade
from tests.helpers import level

pytestmark = pytest.mark.django_db


@pytest.fixture
def shipment(stocked_ceres, vesta, water):
    return make_trade(stocked_ceres, vesta, (water, 10)).cargo


def test_original_update_route_answers_as_the_original_did(api, ceres_op, shipment):
    response = api(ceres_op).put(
        f"/api/cargo/update/{shipment.shipment_id}/",
        {"status": "in_transit", "location_note": "leaving the belt"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["message"] == "Cargo updated successfully"
    assert body["cargo"]["shipment_id"] == shipment.shipment_id
    assert body["cargo"]["status"] == "in_transit"
    assert body["cargo"]["location_note"] == "leaving the belt"
    assert body["cargo"]["items"] == [{"commodity": "water", "quantity": 10}]


def test_original_update_route_404_shape(api, ceres_op):
    response = api(ceres_op).put(
        "/api/cargo/update/shipment-nope/", {"status": "in_transit"}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["message"] == "Cargo not found"


def test_original_eta_field_name_is_accepted(api, ceres_op, shipment):
    response = api(ceres_op).put(
        f"/api/cargo/update/{shipment.shipment_id}", {"ETA": "2999-01-01T00:00:00Z"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["cargo"]["eta"].startswith("2999-01-01")


def test_patch_departs_then_destination_delivers(api, ceres_op, vesta_op, shipment, vesta, water):
    url = f"/api/cargo/{shipment.shipment_id}/"
    departed = api(ceres_op).patch(url, {"status": "in_transit"}, format="json")
    assert departed.status_code == 200 and departed["ETag"]
    delivered = api(vesta_op).patch(
        url, {"status": "delivered", "note": "docked bay 4"}, format="json"
    )
    assert delivered.status_code == 200, delivered.json()
    assert delivered.json()["delivered_at"]
    assert level(vesta, water).on_hand == 10

    history = api(vesta_op).get(f"{url}events/").json()
    assert [(e["from_status"], e["to_status"], e["actor"]) for e in history] == [
        ("", "pending", None),
        ("pending", "in_transit", "ceres-op"),
        ("in_transit", "delivered", "vesta-op"),
    ]
    assert history[-1]["note"] == "docked bay 4"


def test_forbidden_transition_is_409_with_what_is_allowed(api, ceres_op, shipment):
    response = api(ceres_op).patch(
        f"/api/cargo/{shipment.shipment_id}/", {"status": "lost"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    assert response.json()["detail"] == {
        "current": "pending",
        "requested": "lost",
        "allowed": ["cancelled", "in_transit"],
    }


def test_unknown_fields_and_empty_updates_are_400(api, ceres_op, shipment):
    url = f"/api/cargo/{shipment.shipment_id}/"
    unknown = api(ceres_op).patch(
        url, {"status": "in_transit", "origin": "elsewhere"}, format="json"
    )
    assert unknown.status_code == 400
    assert "origin" in unknown.json()["errors"]
    assert api(ceres_op).patch(url, {}, format="json").status_code == 400
    assert Cargo.objects.get(pk=shipment.pk).status == "pending"


def test_stale_if_match_is_412_and_changes_nothing(api, ceres_op, shipment):
    url = f"/api/cargo/{shipment.shipment_id}/"
    client = api(ceres_op)
    etag = client.get(url)["ETag"]
    assert (
        client.patch(url, {"location_note": "a"}, format="json", HTTP_IF_MATCH=etag).status_code
        == 200
    )
    stale = client.patch(url, {"status": "in_transit"}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    assert Cargo.objects.get(pk=shipment.pk).status == "pending"


def test_cargo_list_filters(api, ceres_op, stocked_ceres, vesta, water):
    from django.utils import timezone

    from cargo.services import shipment_update

    late = make_trade(stocked_ceres, vesta, (water, 1)).cargo
    shipment_update(shipment=late, status="in_transit")
    # Overdue: left two hours ago, due an hour ago (an ETA the API would refuse to set now).
    Cargo.objects.filter(pk=late.pk).update(
        departed_at=timezone.now() - timezone.timedelta(hours=2),
        eta=timezone.now() - timezone.timedelta(hours=1),
    )
    waiting = make_trade(stocked_ceres, vesta, (water, 1)).cargo
    client = api(ceres_op)

    def ids(query):
        return {c["shipment_id"] for c in client.get(f"/api/cargo/?{query}").json()["results"]}

    assert ids("overdue=true") == {late.shipment_id}
    assert ids("overdue=false") == {waiting.shipment_id}
    assert ids("status=pending") == {waiting.shipment_id}
    assert ids("origin=ceres-prime") == {late.shipment_id, waiting.shipment_id}
    assert ids("destination=ceres-prime") == set()
    assert ids("station=vesta-yards&status=in_transit") == {late.shipment_id}
    # Overdue means in transit: a status beside it is implied by it, or leaves nothing.
    assert ids("status=in_transit&overdue=true") == {late.shipment_id}
    assert ids("status=pending&status=in_transit&overdue=true") == {late.shipment_id}
    assert ids("station=vesta-yards&status=in_transit&overdue=true") == {late.shipment_id}
    assert ids("status=pending&overdue=true") == set()
    assert ids("status=pending&overdue=false") == {waiting.shipment_id}

    shipment_update(shipment=waiting, location_note="Holding at Relay Beacon 996")
    assert ids(f"search={late.shipment_id.upper()}") == {late.shipment_id}
    assert ids(f"search={late.trade.transaction_id}") == {late.shipment_id}
    assert ids("search=beacon relay") == {waiting.shipment_id}  # every word, any order, case
    assert ids("search=beacon 997") == set()
    assert ids("search=beac") == set()  # whole words
    assert ids("search=:* %26 !") == set()  # no word: tsquery syntax is not interpreted
    assert client.get(f"/api/cargo/{late.shipment_id}/").json()["overdue"] is True
