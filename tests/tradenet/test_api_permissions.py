"""Who may write what: the whole matrix, against the same trade and shipment.

A caller who may not even read the trade, shipment or station gets 404, as for one that does
not exist; one who may read it but not act on it gets 403.
"""

from __future__ import annotations

import pytest

from tests.factories import make_trade

pytestmark = pytest.mark.django_db

OUTSIDER, SELLER_OP, BUYER_OP, DISPATCH = "outsider", "seller_op", "buyer_op", "dispatch"
ANONYMOUS, SUPERUSER = "anonymous", "superuser"


@pytest.fixture
def people(outsider, ceres_op, vesta_op, dispatcher):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    # Dispatch staff by permission; the `dispatcher` fixture is a superuser.
    staff = UserFactory(username="dispatch-staff")
    staff.user_permissions.add(Permission.objects.get(codename="act_for_all_stations"))
    return {
        ANONYMOUS: None,
        OUTSIDER: outsider,
        SELLER_OP: ceres_op,
        BUYER_OP: vesta_op,
        DISPATCH: staff,
        SUPERUSER: dispatcher,
    }


@pytest.fixture
def trade(stocked_ceres, vesta, water):
    return make_trade(stocked_ceres, vesta, (water, 10))


def call(api, user, action, trade):
    shipment = f"/api/cargo/{trade.cargo.shipment_id}/"
    one_unit = [{"commodity": "water", "quantity": 1, "unit_price": "1"}]
    requests = {
        "create_trade": (
            "post",
            "/api/trades/",
            {"seller": "ceres-prime", "buyer": "vesta-yards", "items": one_unit},
        ),
        "cancel_trade": ("post", f"/api/trades/{trade.transaction_id}/cancel/", {}),
        "depart": ("patch", shipment, {"status": "in_transit"}),
        "cancel_shipment": ("patch", shipment, {"status": "cancelled"}),
        "location_note": ("patch", shipment, {"location_note": "near Mars"}),
        "legacy_depart": (
            "put",
            f"/api/cargo/update/{trade.cargo.shipment_id}/",
            {"status": "in_transit"},
        ),
        "adjust_seller": (
            "post",
            "/api/inventory/ceres-prime/adjustments/",
            {"commodity": "water", "delta": 1, "reason": "count"},
        ),
        "add_commodity": (
            "post",
            "/api/commodities/",
            {"code": "salt", "name": "Salt", "unit": "t"},
        ),
    }
    method, path, body = requests[action]
    return getattr(api(user), method)(path, body, format="json").status_code


ALLOWED = {
    # Without an agreement the buyer granted: the seller's operator is refused (tests/trades/
    # test_consent.py has the trades inside one).
    "create_trade": {DISPATCH},
    "cancel_trade": {SELLER_OP, DISPATCH},
    "depart": {SELLER_OP, DISPATCH},
    "cancel_shipment": {SELLER_OP, DISPATCH},
    "location_note": {SELLER_OP, BUYER_OP, DISPATCH},
    "legacy_depart": {SELLER_OP, DISPATCH},
    "adjust_seller": {SELLER_OP, DISPATCH},
    "add_commodity": {DISPATCH},
}


# Who may read what the action targets (the trade, its shipment, the seller's stock).
READERS = {
    "create_trade": {OUTSIDER, SELLER_OP, BUYER_OP, DISPATCH},  # the station directory
    "cancel_trade": {SELLER_OP, BUYER_OP, DISPATCH},
    "depart": {SELLER_OP, BUYER_OP, DISPATCH},
    "cancel_shipment": {SELLER_OP, BUYER_OP, DISPATCH},
    "location_note": {SELLER_OP, BUYER_OP, DISPATCH},
    "legacy_depart": {SELLER_OP, BUYER_OP, DISPATCH},
    "adjust_seller": {SELLER_OP, DISPATCH},
    "add_commodity": {OUTSIDER, SELLER_OP, BUYER_OP, DISPATCH},
}


@pytest.mark.parametrize("who", [ANONYMOUS, OUTSIDER, SELLER_OP, BUYER_OP, DISPATCH, SUPERUSER])
@pytest.mark.parametrize("action", sorted(ALLOWED))
def test_write_permission_matrix(api, people, trade, who, action):
    status = call(api, people[who], action, trade)
    if who == ANONYMOUS:
        assert status == 401, (action, status)
    elif who in ALLOWED[action] or who == SUPERUSER:
        assert status in (200, 201), (who, action, status)
    elif who in READERS[action]:
        assert status == 403, (who, action, status)
    else:
        assert status == 404, (who, action, status)


def test_delivery_is_for_the_destination(api, people, trade):
    url = f"/api/cargo/{trade.cargo.shipment_id}/"
    assert (
        api(people[SELLER_OP]).patch(url, {"status": "in_transit"}, format="json").status_code
        == 200
    )
    assert (
        api(people[SELLER_OP]).patch(url, {"status": "delivered"}, format="json").status_code == 403
    )
    assert (
        api(people[OUTSIDER]).patch(url, {"status": "delivered"}, format="json").status_code == 404
    )
    assert (
        api(people[BUYER_OP]).patch(url, {"status": "delivered"}, format="json").status_code == 200
    )
