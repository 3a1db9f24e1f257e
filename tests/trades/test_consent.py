"""Consent: no station's goods or credits move without its own operators' say, an agreement it
granted, or dispatch staff (docs/domain.md#consent). Through the real API on PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from core.models import OutboxEvent
from credits.models import Account, Transfer
from inventory.models import StockMovement
from tests.factories import grant_agreement, make_trade
from tests.helpers import level
from trades.models import Agreement, Proposal, Trade
from trades.proposals import proposals_expire

pytestmark = pytest.mark.django_db


def trade_body(quantity=1, unit_price="10.00", terms="seller_risk", **extra):
    return {
        "seller": "ceres-prime",
        "buyer": "vesta-yards",
        "items": [{"commodity": "water", "quantity": quantity, "unit_price": unit_price}],
        "terms": terms,
        **extra,
    }


def balances(station):
    account = Account.objects.get(station=station)
    return account.balance, account.held


# --- The seller alone cannot commit the buyer ------------------------------------------------


def test_a_seller_without_the_buyers_consent_is_refused_and_nothing_is_held(
    api, ceres_op, stocked_ceres, vesta, water
):
    before = balances(vesta)

    response = api(ceres_op).post("/api/trades/", trade_body(), format="json")

    assert response.status_code == 403, response.json()
    assert response.json()["code"] == "consent_required"
    assert "POST /api/proposals/" in response.json()["message"]
    assert balances(vesta) == before
    assert level(stocked_ceres, water).on_hand == 100
    assert not Trade.objects.exists()


def test_the_reported_theft_holds_nothing_and_cannot_write_off(
    api, ceres_op, stocked_ceres, vesta, water
):
    """Issue 37's four requests: a buyer_risk trade for all of B's credits, then departed and
    declared lost by the seller. The first is refused, so nothing follows."""
    available = Account.objects.get(station=vesta).balance
    body = trade_body(unit_price=str(available), terms="buyer_risk")

    assert api(ceres_op).post("/api/trades/", body, format="json").status_code == 403
    assert balances(vesta) == (available, Decimal("0.00"))


def test_a_trade_inside_an_agreement_commits_in_one_request_and_the_ledger_says_so(
    api, ceres_op, stocked_ceres, vesta, water
):
    agreement = grant_agreement(vesta, stocked_ceres, max_outstanding=Decimal("1000"))

    response = api(ceres_op).post("/api/trades/", trade_body(quantity=3), format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["agreement"] == agreement.agreement_id
    transfer = Transfer.objects.get(trade__transaction_id=response.json()["transaction_id"])
    assert (transfer.consent, transfer.agreement_id) == ("agreement", agreement.pk)
    agreement.refresh_from_db()
    assert agreement.outstanding == Decimal("30.00")
    uses = api(ceres_op).get(f"/api/trades/?agreement={agreement.agreement_id}").json()
    assert [t["transaction_id"] for t in uses["results"]] == [response.json()["transaction_id"]]


@pytest.mark.parametrize(
    ("limits", "body"),
    [
        ({"max_unit_price": Decimal("5.00")}, trade_body(unit_price="5.01")),
        ({"max_trade_total": Decimal("20.00")}, trade_body(quantity=3)),
        ({"max_outstanding": Decimal("20.00")}, trade_body(quantity=3)),
        ({}, trade_body(terms="buyer_risk")),
        ({"expires_at": "lapsed"}, trade_body()),
    ],
    ids=["unit price", "trade total", "outstanding", "buyer_risk", "expired"],
)
def test_a_trade_outside_the_agreements_limits_is_refused(
    api, ceres_op, stocked_ceres, vesta, water, limits, body
):
    lapsed = limits.pop("expires_at", None) == "lapsed"
    agreement = grant_agreement(vesta, stocked_ceres, **limits)
    if lapsed:
        Agreement.objects.filter(pk=agreement.pk).update(expires_at=timezone.now())
    before = balances(vesta)

    response = api(ceres_op).post("/api/trades/", body, format="json")

    assert response.status_code == 403, response.json()
    assert balances(vesta) == before


def test_an_agreement_covers_only_its_commodities(api, ceres_op, stocked_ceres, vesta, water, ore):
    grant_agreement(vesta, stocked_ceres, commodities=[ore])

    assert api(ceres_op).post("/api/trades/", trade_body(), format="json").status_code == 403
    body = trade_body()
    body["items"][0]["commodity"] = "iron-ore"
    assert api(ceres_op).post("/api/trades/", body, format="json").status_code == 201


def test_outstanding_falls_as_trades_end_and_the_cap_frees_up(
    api, ceres_op, vesta_op, stocked_ceres, vesta, water
):
    agreement = grant_agreement(vesta, stocked_ceres, max_outstanding=Decimal("10.00"))
    first = api(ceres_op).post("/api/trades/", trade_body(), format="json").json()
    assert api(ceres_op).post("/api/trades/", trade_body(), format="json").status_code == 403

    cancel = api(ceres_op).post(f"/api/trades/{first['transaction_id']}/cancel/", {})

    assert cancel.status_code == 200, cancel.json()
    agreement.refresh_from_db()
    assert agreement.outstanding == Decimal("0.00")
    assert api(ceres_op).post("/api/trades/", trade_body(), format="json").status_code == 201


def test_a_revoked_agreement_lets_no_new_trade_through_and_keeps_those_under_way(
    api, ceres_op, vesta_op, stocked_ceres, vesta, water
):
    agreement = grant_agreement(vesta, stocked_ceres)
    placed = api(ceres_op).post("/api/trades/", trade_body(), format="json").json()

    revoked = api(vesta_op).post(f"/api/agreements/{agreement.agreement_id}/revoke/")

    assert revoked.status_code == 200, revoked.json()
    assert revoked.json()["active"] is False
    assert api(ceres_op).post("/api/trades/", trade_body(), format="json").status_code == 403
    assert Trade.objects.get(transaction_id=placed["transaction_id"]).settlement.status == (
        "pending"
    )


def test_only_the_buyers_operators_grant_or_revoke_an_agreement(
    api, ceres_op, vesta_op, outsider, stocked_ceres, vesta, water
):
    grant = {
        "buyer": "vesta-yards",
        "seller": "ceres-prime",
        "max_unit_price": "10.00",
        "max_trade_total": "100.00",
        "max_outstanding": "500.00",
    }
    assert api(ceres_op).post("/api/agreements/", grant, format="json").status_code == 403
    assert api(outsider).post("/api/agreements/", grant, format="json").status_code == 403
    assert not Agreement.objects.exists()
    created = api(vesta_op).post("/api/agreements/", grant, format="json")
    assert created.status_code == 201, created.json()
    agreement_id = created.json()["agreement_id"]

    # The seller sees the agreement it holds, but may not revoke it; a stranger sees nothing.
    assert api(ceres_op).get(f"/api/agreements/{agreement_id}/").status_code == 200
    assert api(ceres_op).post(f"/api/agreements/{agreement_id}/revoke/").status_code == 403
    assert api(outsider).get(f"/api/agreements/{agreement_id}/").status_code == 404
    assert api(outsider).post(f"/api/agreements/{agreement_id}/revoke/").status_code == 404


def test_a_bad_agreement_is_a_400_naming_the_field(api, vesta_op, ceres, vesta):
    body = {
        "buyer": "vesta-yards",
        "seller": "ceres-prime",
        "max_unit_price": "-1",
        "max_trade_total": "100.00",
        "max_outstanding": "50.00",
    }
    response = api(vesta_op).post("/api/agreements/", body, format="json")
    assert response.status_code == 400
    assert "max_unit_price" in response.json()["errors"]
    body["max_unit_price"] = "1.00"
    response = api(vesta_op).post("/api/agreements/", body, format="json")
    assert response.status_code == 400
    assert "max_trade_total" in response.json()["errors"]


# --- Proposals ---------------------------------------------------------------------------------


def test_a_proposal_holds_nothing_until_the_buyer_accepts_then_places_the_trade(
    api, ceres_op, vesta_op, stocked_ceres, vesta, water
):
    before = balances(vesta)
    proposed = api(ceres_op).post("/api/proposals/", trade_body(quantity=4), format="json")
    assert proposed.status_code == 201, proposed.json()
    proposal = proposed.json()
    assert (proposal["status"], proposal["answering_side"]) == ("open", "buyer")
    assert balances(vesta) == before
    assert level(stocked_ceres, water).on_hand == 100

    # The proposer cannot accept its own proposal; the buyer's operator can.
    own = api(ceres_op).post(f"/api/proposals/{proposal['proposal_id']}/accept/")
    assert own.status_code == 403
    accepted = api(vesta_op).post(f"/api/proposals/{proposal['proposal_id']}/accept/")

    assert accepted.status_code == 200, accepted.json()
    assert accepted.json()["status"] == "accepted"
    trade = Trade.objects.get(transaction_id=accepted.json()["transaction_id"])
    assert trade.settlement.status == "pending"
    assert (trade.settlement.consent, trade.settlement.consented_by) == ("operator", vesta_op)
    assert balances(vesta)[1] == Decimal("40.00")
    assert level(stocked_ceres, water).on_hand == 96
    again = api(vesta_op).post(f"/api/proposals/{proposal['proposal_id']}/accept/")
    assert again.status_code == 409
    assert Trade.objects.count() == 1


def test_a_buyer_may_propose_and_the_seller_accepts(
    api, ceres_op, vesta_op, stocked_ceres, vesta, water
):
    proposal = api(vesta_op).post("/api/proposals/", trade_body(), format="json").json()
    assert proposal["proposed_by_side"] == "buyer"
    assert api(vesta_op).post(f"/api/proposals/{proposal['proposal_id']}/accept/").status_code == (
        403
    )

    accepted = api(ceres_op).post(f"/api/proposals/{proposal['proposal_id']}/accept/")

    assert accepted.status_code == 200, accepted.json()
    transfer = Transfer.objects.get(trade__transaction_id=accepted.json()["transaction_id"])
    assert (transfer.consent, transfer.consented_by) == ("operator", vesta_op)
    # The seller's goods left by the word of the seller's operator, who accepted.
    assert transfer.trade.created_by == ceres_op
    assert StockMovement.objects.get(station=stocked_ceres, kind="dispatch").actor == ceres_op


def test_withdrawn_declined_and_expired_proposals_can_no_longer_be_accepted(
    api, ceres_op, vesta_op, stocked_ceres, vesta, water
):
    client_c, client_v = api(ceres_op), api(vesta_op)
    ids = [
        client_c.post("/api/proposals/", trade_body(), format="json").json()["proposal_id"]
        for _ in range(3)
    ]
    assert client_v.post(f"/api/proposals/{ids[0]}/withdraw/").status_code == 403
    assert client_c.post(f"/api/proposals/{ids[0]}/withdraw/").json()["status"] == "withdrawn"
    assert client_c.post(f"/api/proposals/{ids[1]}/decline/").status_code == 403
    assert client_v.post(f"/api/proposals/{ids[1]}/decline/").json()["status"] == "declined"
    Proposal.objects.filter(proposal_id=ids[2]).update(expires_at=timezone.now())
    assert client_v.get(f"/api/proposals/{ids[2]}/").json()["status"] == "expired"

    for proposal_id in ids:
        refused = client_v.post(f"/api/proposals/{proposal_id}/accept/")
        assert refused.status_code == 409, refused.json()
    assert not Trade.objects.exists()
    assert proposals_expire() == 1
    assert OutboxEvent.objects.filter(type="proposal.expired").count() == 1


def test_a_station_lists_what_waits_for_its_answer(
    api, ceres_op, vesta_op, stocked_ceres, vesta, water
):
    waiting = api(ceres_op).post("/api/proposals/", trade_body(), format="json").json()
    api(vesta_op).post("/api/proposals/", trade_body(), format="json")

    for_vesta = api(vesta_op).get("/api/proposals/?awaiting=vesta-yards").json()["results"]

    assert [p["proposal_id"] for p in for_vesta] == [waiting["proposal_id"]]


def test_a_stranger_neither_proposes_for_nor_answers_for_other_stations(
    api, outsider, ceres_op, stocked_ceres, vesta, water
):
    assert api(outsider).post("/api/proposals/", trade_body(), format="json").status_code == 403
    proposal = api(ceres_op).post("/api/proposals/", trade_body(), format="json").json()
    for verb in ("accept", "decline", "withdraw"):
        answer = api(outsider).post(f"/api/proposals/{proposal['proposal_id']}/{verb}/")
        assert answer.status_code == 404


# --- Need to know --------------------------------------------------------------------------------


def test_a_buyer_short_of_credits_is_a_409_with_figures_only_for_its_operators(
    api, ceres_op, vesta_op, stocked_ceres, vesta, water
):
    grant_agreement(vesta, stocked_ceres)
    available = Account.objects.get(station=vesta).balance
    body = trade_body(unit_price=str(available + 1))

    refused = api(ceres_op).post("/api/trades/", body, format="json")

    assert refused.status_code == 409
    assert refused.json()["code"] == "insufficient_credits"
    assert str(available) not in refused.content.decode()
    assert "available" not in refused.json()["detail"]
    proposal = api(ceres_op).post("/api/proposals/", body, format="json").json()
    own = api(vesta_op).post(f"/api/proposals/{proposal['proposal_id']}/accept/")
    assert own.status_code == 409
    assert own.json()["detail"]["available"] == str(available)


# --- Losses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "decides", "reports"),
    [("seller_risk", "ceres", "vesta"), ("buyer_risk", "vesta", "ceres")],
)
def test_the_side_that_bears_a_loss_decides_it_and_the_other_may_only_report_it(
    api, ceres_op, vesta_op, dispatcher, stocked_ceres, vesta, water, terms, decides, reports
):
    grant_agreement(vesta, stocked_ceres, allow_buyer_risk=True)
    operators = {"ceres": ceres_op, "vesta": vesta_op}
    trade = api(ceres_op).post("/api/trades/", trade_body(terms=terms), format="json").json()
    shipment = trade["cargo"]["shipment_id"]
    assert api(ceres_op).patch(f"/api/cargo/{shipment}/", {"status": "in_transit"}).status_code == (
        200
    )
    before = balances(vesta), level(stocked_ceres, water).on_hand

    refused = api(operators[reports]).put(f"/api/cargo/update/{shipment}/", {"status": "lost"})
    assert refused.status_code == 403, refused.json()
    reported = api(operators[reports]).post(
        f"/api/cargo/{shipment}/report-loss/", {"note": "no signal since Ceres"}, format="json"
    )
    assert reported.status_code == 200, reported.json()
    assert reported.json()["status"] == "in_transit"
    assert reported.json()["loss_reported_by"] == operators[reports].username
    assert (balances(vesta), level(stocked_ceres, water).on_hand) == before
    assert OutboxEvent.objects.filter(type="cargo.loss_reported").count() == 1

    decided = api(operators[decides]).put(f"/api/cargo/update/{shipment}/", {"status": "lost"})
    assert decided.status_code == 200, decided.json()


def test_dispatch_staff_act_for_both_sides_as_before(api, dispatcher, stocked_ceres, vesta, water):
    response = api(dispatcher).post("/api/trades/", trade_body(), format="json")

    assert response.status_code == 201, response.json()
    transfer = Transfer.objects.get(trade__transaction_id=response.json()["transaction_id"])
    assert (transfer.consent, transfer.consented_by) == ("dispatch", dispatcher)


def test_commands_trade_as_the_server_itself(stocked_ceres, vesta, water):
    trade = make_trade(stocked_ceres, vesta, (water, 1))

    assert trade.settlement.consent == "system"


def test_a_proposal_stands_only_while_its_proposer_acts_for_the_proposing_side(
    api, ceres_op, vesta_op, stocked_ceres, vesta, water
):
    proposal = api(ceres_op).post("/api/proposals/", trade_body(), format="json").json()
    stocked_ceres.operators.remove(ceres_op)

    refused = api(vesta_op).post(f"/api/proposals/{proposal['proposal_id']}/accept/")

    assert refused.status_code == 403, refused.json()
    assert level(stocked_ceres, water).on_hand == 100
    assert not Trade.objects.exists()
