"""One Idempotency-Key mechanism (core.idempotency) behind POST /api/trades/ and the
credits' deposits and withdrawals: one error for the one code, each answer as it always was."""

from __future__ import annotations

import pytest

from core.idempotency import IdempotencyKeyReused

pytestmark = pytest.mark.django_db

TRADE = {
    "seller": "ceres-prime",
    "buyer": "vesta-yards",
    "items": [{"commodity": "water", "quantity": 5, "unit_price": "12.50"}],
}


def test_a_trades_key_used_again_for_another_trade_is_refused_by_the_one_error(
    api, dispatcher, stocked_ceres, vesta
):
    client = api(dispatcher)
    client.post("/api/trades/", TRADE, format="json", HTTP_IDEMPOTENCY_KEY="k")
    other = client.post(
        "/api/trades/", TRADE | {"terms": "buyer_risk"}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert other.status_code == 422
    assert other.json() == {
        "message": "This Idempotency-Key was already used with a different request body. "
        "Use a new key for a new trade.",
        "code": IdempotencyKeyReused.code,
    }


def test_a_transfers_key_used_again_for_another_transfer_is_refused_by_the_one_error(
    api, dispatcher, ceres
):
    client = api(dispatcher)
    path = "/api/accounts/ceres-prime/deposits/"
    client.post(path, {"amount": "1.00"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    other = client.post(path, {"amount": "2.00"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert other.status_code == 422
    assert other.json() == {
        "message": "This Idempotency-Key was already used for a different transfer. "
        "Use a new key for a new transfer.",
        "code": IdempotencyKeyReused.code,
        "detail": {},
    }
