"""/api/accounts/: a station's account is for its operators and dispatch staff; credits move
by dispatch staff only; bad input is a 400 naming the field, with nothing written."""

from __future__ import annotations

from decimal import Decimal

import pytest

from credits.models import Account, Entry, Transfer
from inventory.services import operator_grant
from tests.factories import StationFactory, UserFactory, grant_agreement

pytestmark = pytest.mark.django_db


@pytest.fixture
def dispatch(api, dispatcher):
    return api(dispatcher)


def test_an_operator_reads_their_own_stations_account_and_no_other(api, ceres_op, vesta):
    client = api(ceres_op)
    answer = client.get("/api/accounts/ceres-prime/")
    assert answer.status_code == 200
    assert answer.json() == {
        "station": "ceres-prime",
        "balance": "1000000.00",
        "held": "0.00",
        "incoming": "0.00",
        "available": "1000000.00",
        "credit_limit": "0.00",
    }
    assert client.get("/api/accounts/vesta-yards/").status_code == 404
    assert [row["station"] for row in client.get("/api/accounts/").json()["results"]] == [
        "ceres-prime"
    ]
    assert client.get("/api/accounts/vesta-yards/entries/").status_code == 404


def test_dispatch_staff_list_every_account(dispatch, ceres, vesta):
    rows = dispatch.get("/api/accounts/").json()["results"]
    assert [row["station"] for row in rows] == ["ceres-prime", "vesta-yards"]


def test_a_deposit_by_dispatch_staff_moves_credits_from_the_treasury(dispatch, ceres):
    answer = dispatch.post(
        "/api/accounts/ceres-prime/deposits/", {"amount": "250.25", "memo": "grant"}, format="json"
    )
    assert answer.status_code == 201, answer.content
    assert answer.json()["amount"] == "250.25"
    assert Account.objects.get(station=ceres).balance == Decimal("1000250.25")
    assert Account.objects.get(is_treasury=True).balance == Decimal("-1000250.25")


def test_a_withdrawal_beyond_what_is_available_is_a_409(dispatch, ceres):
    answer = dispatch.post(
        "/api/accounts/ceres-prime/withdrawals/", {"amount": "1000000.01"}, format="json"
    )
    assert answer.status_code == 409
    assert answer.json()["code"] == "insufficient_credits"
    assert answer.json()["detail"]["available"] == "1000000.00"
    assert Transfer.objects.filter(kind="withdrawal").count() == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"amount": "-5.00"}, "greater than or equal to 0.01"),
        ({"amount": "0"}, "greater than or equal to 0.01"),
        ({"amount": "1.001"}, "no more than 2 decimal places"),
        ({"amount": "lots"}, "valid number"),
        ({"amount": "NaN"}, "valid number"),
        ({}, "required"),
        ({"amount": "1.00", "bonus": "1"}, "Unknown field"),
        ({"amount": "1" + "0" * 30}, "digits"),
    ],
)
def test_bad_amounts_are_400s_naming_the_field_and_move_nothing(dispatch, ceres, body, message):
    entries = Entry.objects.count()
    answer = dispatch.post("/api/accounts/ceres-prime/deposits/", body, format="json")
    assert answer.status_code == 400, answer.content
    errors = answer.json()["errors"]
    field = "bonus" if "bonus" in body else "amount"
    assert field in errors and message.lower() in " ".join(errors[field]).lower(), errors
    assert Entry.objects.count() == entries


def test_an_operator_may_not_deposit_even_to_their_own_station(api, ceres_op):
    answer = api(ceres_op).post(
        "/api/accounts/ceres-prime/deposits/", {"amount": "10.00"}, format="json"
    )
    assert answer.status_code == 403
    assert Transfer.objects.filter(kind="deposit").count() == 1  # the factory's funds


def test_a_station_that_does_not_exist_is_a_404(dispatch):
    answer = dispatch.post("/api/accounts/nowhere/deposits/", {"amount": "1.00"}, format="json")
    assert answer.status_code == 404


def test_an_idempotency_key_replays_the_deposit_and_moves_nothing_more(dispatch, ceres):
    def deposit(amount="10.00"):
        return dispatch.post(
            "/api/accounts/ceres-prime/deposits/",
            {"amount": amount},
            format="json",
            headers={"Idempotency-Key": "grant-7"},
        )

    first, again = deposit(), deposit()
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Account.objects.get(station=ceres).balance == Decimal("1000010.00")
    assert deposit("11.00").status_code == 422


def test_a_refused_withdrawal_is_refused_again_on_retry_with_its_key(dispatch, ceres):
    """TigerBeetle's id_already_failed: the retry does not try anew, even once funds arrive."""

    def withdraw():
        return dispatch.post(
            "/api/accounts/ceres-prime/withdrawals/",
            {"amount": "2000000.00"},
            format="json",
            headers={"Idempotency-Key": "drain"},
        )

    assert withdraw().json()["code"] == "insufficient_credits"
    dispatch.post("/api/accounts/ceres-prime/deposits/", {"amount": "5000000.00"}, format="json")
    again = withdraw()
    assert again.status_code == 409 and again.json()["code"] == "transfer_already_failed"
    assert Account.objects.get(station=ceres).balance == Decimal("6000000.00")


def test_dispatch_staff_set_a_credit_limit(dispatch, api, ceres_op, ceres):
    answer = dispatch.patch("/api/accounts/ceres-prime/", {"credit_limit": "500.00"}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["available"] == "1000500.00"
    assert dispatch.patch(
        "/api/accounts/ceres-prime/", {"credit_limit": "-1"}, format="json"
    ).json()["errors"]["credit_limit"]
    refused = api(ceres_op).patch(
        "/api/accounts/ceres-prime/", {"credit_limit": "9"}, format="json"
    )
    assert refused.status_code == 403


def test_entries_are_listed_newest_first_and_filter_by_kind(dispatch, ceres):
    for amount in ("1.00", "2.00", "3.00"):
        dispatch.post("/api/accounts/ceres-prime/deposits/", {"amount": amount}, format="json")
    page = dispatch.get("/api/accounts/ceres-prime/entries/?kind=deposit&page_size=2").json()
    assert [e["balance_delta"] for e in page["results"]] == ["3.00", "2.00"]
    rest = dispatch.get(page["next"]).json()
    assert [e["balance_delta"] for e in rest["results"]] == ["1.00", "1000000.00"]
    assert dispatch.get("/api/accounts/ceres-prime/entries/?kind=gift").status_code == 400


def test_as_of_must_be_a_time(dispatch, ceres):
    answer = dispatch.get("/api/accounts/ceres-prime/?as_of=yesterday")
    assert answer.status_code == 400 and "as_of" in answer.json()["errors"]


def test_as_of_answers_the_balances_then(dispatch, ceres):
    from django.utils import timezone

    moment = timezone.now().isoformat()
    dispatch.post("/api/accounts/ceres-prime/deposits/", {"amount": "5.00"}, format="json")
    then = dispatch.get("/api/accounts/ceres-prime/", {"as_of": moment}).json()
    assert then["balance"] == "1000000.00" and then["as_of"]
    listed = dispatch.get("/api/accounts/", {"as_of": moment}).json()["results"]
    assert listed[0]["balance"] == "1000000.00"


def sell_water(client, *, buyer, quantity, unit_price, **fields):
    """Ceres Prime sells water to `buyer` through the API."""
    return client.post(
        "/api/trades/",
        {
            "seller": "ceres-prime",
            "buyer": buyer,
            "items": [{"commodity": "water", "quantity": quantity, "unit_price": unit_price}],
            **fields,
        },
        format="json",
    )


def test_a_trade_answers_with_its_terms_and_settlement(api, ceres_op, stocked_ceres, vesta):
    grant_agreement(vesta, stocked_ceres, allow_buyer_risk=True)
    answer = sell_water(
        api(ceres_op), buyer="vesta-yards", quantity=2, unit_price="3.50", terms="buyer_risk"
    )
    assert answer.status_code == 201, answer.content
    assert answer.json()["terms"] == "buyer_risk"
    assert answer.json()["settlement"] == {"status": "held", "amount": "7.00"}


def test_a_trade_the_buyer_cannot_pay_for_is_a_409_naming_the_amounts_to_its_operators(
    api, ceres_op, stocked_ceres, water
):
    pallas = StationFactory(code="pallas-depot", funds=Decimal("5.00"))
    grant_agreement(pallas, stocked_ceres)
    answer = sell_water(api(ceres_op), buyer="pallas-depot", quantity=2, unit_price="3.00")
    assert answer.status_code == 409
    assert answer.json()["code"] == "insufficient_credits"
    # The seller's operator learns that Pallas cannot pay, never what it has.
    assert answer.json()["detail"] == {"station": "pallas-depot", "needed": "6.00"}
    operate_both = UserFactory(username="both-op")
    operator_grant(user=operate_both, stations=[stocked_ceres, pallas])
    answer = sell_water(api(operate_both), buyer="pallas-depot", quantity=2, unit_price="3.00")
    assert answer.json()["detail"] == {
        "station": "pallas-depot",
        "needed": "6.00",
        "available": "5.00",
    }


def test_unknown_terms_are_a_400_naming_terms(api, ceres_op, stocked_ceres, vesta):
    answer = sell_water(
        api(ceres_op), buyer="vesta-yards", quantity=1, unit_price="1.00", terms="whoever"
    )
    assert answer.status_code == 400 and "terms" in answer.json()["errors"]
