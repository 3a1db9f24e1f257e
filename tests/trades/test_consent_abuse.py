"""Issue 37 from the attacker's side: every write that moves a station's goods or credits, tried
through the real API by everyone who must not cause it, and the issue's reported sequences
replayed. A refusal is a 401, 403 or 404 that leaves the database exactly as it was (balances,
holds, stock levels, statuses, ledgers, events); and no answer tells a station's figures to
anyone but its operators and dispatch staff (docs/domain.md#consent, docs/api.md#need-to-know).

The cast: Ceres sells, Vesta buys, Pallas is a third station (a competitor of both) with its
own operator; `outsider` operates nothing; `dispatcher` is dispatch staff.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from cargo.models import Cargo
from cargo.services import shipment_update
from core.models import OutboxEvent
from credits.models import Account, Entry, Transfer
from inventory.access import receivable_stations
from inventory.models import StockLevel, StockMovement
from inventory.services import operator_grant
from tests.factories import StationFactory, UserFactory, give_stock, grant_agreement
from tests.helpers import assert_ledger_matches_levels, level
from trades.models import Agreement, Proposal, Trade
from trades.proposals import proposal_create
from trades.services import LineSpec, trade_initiate

pytestmark = pytest.mark.django_db

CERES, VESTA, PALLAS = "ceres-prime", "vesta-yards", "pallas-deep"
# Vesta's money, chosen so that none of its figures can be any trade's total by chance.
VESTA_FUNDS = Decimal("48213.57")
PALLAS_PRICE = Decimal("41.19")  # a hold on Vesta Ceres knows nothing of: 3 x 41.19


def trade_body(seller=CERES, buyer=VESTA, quantity=1, unit_price="10.00", terms="seller_risk"):
    return {
        "seller": seller,
        "buyer": buyer,
        "items": [{"commodity": "water", "quantity": quantity, "unit_price": unit_price}],
        "terms": terms,
    }


def snapshot() -> dict:
    """Everything a write could move: accounts, stock, ledgers, trades, shipments, transfers,
    proposals, agreements, events."""
    return {
        "accounts": sorted(
            Account.objects.values_list(
                "station_id", "is_treasury", "balance", "held", "incoming", "credit_limit"
            ),
            key=str,
        ),
        "stock": sorted(
            StockLevel.objects.values_list("station_id", "commodity_id", "on_hand", "incoming")
        ),
        "movements": StockMovement.objects.count(),
        "entries": Entry.objects.count(),
        "transfers": sorted(Transfer.objects.values_list("id", "status", "amount")),
        "trades": sorted(Trade.objects.values_list("transaction_id", "status", "placed_at")),
        "shipments": sorted(
            Cargo.objects.values_list(
                "shipment_id", "status", "eta", "location_note", "loss_reported_at"
            )
        ),
        "proposals": sorted(Proposal.objects.values_list("proposal_id", "status", "trade_id")),
        "agreements": sorted(
            Agreement.objects.values_list("agreement_id", "revoked_at", "outstanding")
        ),
        "outbox": OutboxEvent.objects.count(),
    }


@dataclass
class World:
    people: dict
    agreement: Agreement  # Vesta's, for Ceres: seller_risk only, at most 20.00 a unit
    pending: Trade  # Ceres -> Vesta, seller_risk, not departed
    transit_seller_risk: Trade
    transit_buyer_risk: Trade
    offered_by_seller: Proposal  # Ceres offers, Vesta answers
    offered_by_buyer: Proposal  # Vesta offers, Ceres answers
    stations: dict = field(default_factory=dict)


@pytest.fixture
def world(ceres, vesta, water, ore, ceres_op, vesta_op, outsider, dispatcher) -> World:
    pallas = StationFactory(code=PALLAS, x=8.0)
    pallas_op = UserFactory(username="pallas-op")
    operator_grant(user=pallas_op, stations=[pallas])
    for station in (ceres, vesta, pallas):
        give_stock(station, water, 100)
        give_stock(station, ore, 50)
    # Vesta's balance: VESTA_FUNDS exactly (the factory's million taken back first).
    from credits.services import credits_deposit, credits_withdraw

    credits_withdraw(station=vesta, amount=Account.objects.get(station=vesta).balance)
    credits_deposit(station=vesta, amount=VESTA_FUNDS)

    def place(seller, terms="seller_risk", price="10.00", quantity=1):
        return trade_initiate(
            seller=seller,
            buyer=vesta,
            lines=[LineSpec(water, quantity, Decimal(price))],
            terms=terms,
            actor=dispatcher,
        )

    place(pallas, price=str(PALLAS_PRICE), quantity=3)
    pending = place(ceres)
    transit_sr = place(ceres)
    transit_br = place(ceres, terms="buyer_risk")
    for trade in (transit_sr, transit_br):
        shipment_update(shipment=trade.cargo, status="in_transit", actor=dispatcher)
    agreement = grant_agreement(
        vesta,
        ceres,
        max_unit_price=Decimal("20.00"),
        max_trade_total=Decimal("100.00"),
        max_outstanding=Decimal("1000.00"),
        actor=vesta_op,
    )
    line = [LineSpec(water, 2, Decimal("10.00"))]
    by_seller = proposal_create(seller=ceres, buyer=vesta, lines=line, actor=ceres_op)
    by_buyer = proposal_create(seller=ceres, buyer=vesta, lines=line, actor=vesta_op)
    return World(
        people={
            "anonymous": None,
            "outsider": outsider,
            "pallas_op": pallas_op,
            "ceres_op": ceres_op,
            "vesta_op": vesta_op,
            "dispatcher": dispatcher,
        },
        agreement=agreement,
        pending=pending,
        transit_seller_risk=transit_sr,
        transit_buyer_risk=transit_br,
        offered_by_seller=by_seller,
        offered_by_buyer=by_buyer,
        stations={"ceres": ceres, "vesta": vesta, "pallas": pallas},
    )


def shipment(trade: Trade) -> str:
    return trade.cargo.shipment_id


# ---------------------------------------------------------------------------------------------
# The requests. Each: (method, path, body) built from the world.

REQUESTS = {
    # Trades: the seller's goods leave, the buyer's credits are held.
    "trade": lambda w: ("post", "/api/trades/", trade_body()),
    "trade_buyer_risk": lambda w: ("post", "/api/trades/", trade_body(terms="buyer_risk")),
    "trade_over_unit_price": lambda w: ("post", "/api/trades/", trade_body(unit_price="20.01")),
    "trade_over_total": lambda w: ("post", "/api/trades/", trade_body(quantity=11)),
    "trade_of_buyers_goods": lambda w: (
        "post",
        "/api/trades/",
        trade_body(seller=VESTA, buyer=CERES),
    ),
    "trade_from_pallas": lambda w: ("post", "/api/trades/", trade_body(seller=PALLAS)),
    "trade_vesta_balance_buyer_risk": lambda w: (
        "post",
        "/api/trades/",
        trade_body(unit_price=str(VESTA_FUNDS), terms="buyer_risk"),
    ),
    # Proposals.
    "propose": lambda w: ("post", "/api/proposals/", trade_body()),
    "accept_sellers_offer": lambda w: (
        "post",
        f"/api/proposals/{w.offered_by_seller.proposal_id}/accept/",
        {},
    ),
    "accept_buyers_offer": lambda w: (
        "post",
        f"/api/proposals/{w.offered_by_buyer.proposal_id}/accept/",
        {},
    ),
    "decline_sellers_offer": lambda w: (
        "post",
        f"/api/proposals/{w.offered_by_seller.proposal_id}/decline/",
        {},
    ),
    "decline_buyers_offer": lambda w: (
        "post",
        f"/api/proposals/{w.offered_by_buyer.proposal_id}/decline/",
        {},
    ),
    "withdraw_sellers_offer": lambda w: (
        "post",
        f"/api/proposals/{w.offered_by_seller.proposal_id}/withdraw/",
        {},
    ),
    "withdraw_buyers_offer": lambda w: (
        "post",
        f"/api/proposals/{w.offered_by_buyer.proposal_id}/withdraw/",
        {},
    ),
    # A trade's cancellation, and every shipment transition, by both routes.
    "cancel_trade": lambda w: ("post", f"/api/trades/{w.pending.transaction_id}/cancel/", {}),
    "depart": lambda w: ("patch", f"/api/cargo/{shipment(w.pending)}/", {"status": "in_transit"}),
    "depart_legacy": lambda w: (
        "put",
        f"/api/cargo/update/{shipment(w.pending)}/",
        {"status": "in_transit"},
    ),
    "cancel_shipment": lambda w: (
        "patch",
        f"/api/cargo/{shipment(w.pending)}/",
        {"status": "cancelled"},
    ),
    "cancel_shipment_legacy": lambda w: (
        "put",
        f"/api/cargo/update/{shipment(w.pending)}/",
        {"status": "cancelled"},
    ),
    "deliver": lambda w: (
        "patch",
        f"/api/cargo/{shipment(w.transit_seller_risk)}/",
        {"status": "delivered"},
    ),
    "deliver_legacy": lambda w: (
        "put",
        f"/api/cargo/update/{shipment(w.transit_seller_risk)}/",
        {"status": "delivered"},
    ),
    "lost_seller_risk": lambda w: (
        "patch",
        f"/api/cargo/{shipment(w.transit_seller_risk)}/",
        {"status": "lost"},
    ),
    "lost_seller_risk_legacy": lambda w: (
        "put",
        f"/api/cargo/update/{shipment(w.transit_seller_risk)}/",
        {"status": "lost"},
    ),
    "lost_buyer_risk": lambda w: (
        "patch",
        f"/api/cargo/{shipment(w.transit_buyer_risk)}/",
        {"status": "lost"},
    ),
    "lost_buyer_risk_legacy": lambda w: (
        "put",
        f"/api/cargo/update/{shipment(w.transit_buyer_risk)}/",
        {"status": "lost"},
    ),
    "report_loss": lambda w: (
        "post",
        f"/api/cargo/{shipment(w.transit_buyer_risk)}/report-loss/",
        {"note": "gone"},
    ),
    # The buyer's money and the seller's stock directly.
    "deposit_vesta": lambda w: (
        "post",
        f"/api/accounts/{VESTA}/deposits/",
        {"amount": "5.00"},
    ),
    "withdraw_vesta": lambda w: (
        "post",
        f"/api/accounts/{VESTA}/withdrawals/",
        {"amount": "5.00"},
    ),
    "credit_limit_vesta": lambda w: (
        "patch",
        f"/api/accounts/{VESTA}/",
        {"credit_limit": "500.00"},
    ),
    "adjust_ceres": lambda w: (
        "post",
        f"/api/inventory/{CERES}/adjustments/",
        {"commodity": "water", "delta": -5, "reason": "spoilage"},
    ),
    # Consent itself.
    "grant": lambda w: (
        "post",
        "/api/agreements/",
        {
            "buyer": VESTA,
            "seller": CERES,
            "max_unit_price": "1000.00",
            "max_trade_total": "100000.00",
            "max_outstanding": "100000.00",
            "allow_buyer_risk": True,
        },
    ),
    "grant_to_pallas": lambda w: (
        "post",
        "/api/agreements/",
        {
            "buyer": VESTA,
            "seller": PALLAS,
            "max_unit_price": "1000.00",
            "max_trade_total": "100000.00",
            "max_outstanding": "100000.00",
        },
    ),
    "revoke": lambda w: ("post", f"/api/agreements/{w.agreement.agreement_id}/revoke/", {}),
}

# Who may not cause each write, and how each is refused: 403 (may read the thing, may not act
# on it) or 404 (may not even read it). Anonymous callers are refused everything with 401.
REFUSED: dict[str, dict[str, int]] = {
    "trade": {"outsider": 403, "pallas_op": 403, "vesta_op": 403},
    "trade_buyer_risk": {"ceres_op": 403, "outsider": 403, "pallas_op": 403, "vesta_op": 403},
    "trade_over_unit_price": {"ceres_op": 403},
    "trade_over_total": {"ceres_op": 403},
    "trade_of_buyers_goods": {"ceres_op": 403, "pallas_op": 403, "outsider": 403},
    "trade_from_pallas": {"pallas_op": 403, "ceres_op": 403, "outsider": 403},
    "trade_vesta_balance_buyer_risk": {"ceres_op": 403, "pallas_op": 403},
    "propose": {"outsider": 403, "pallas_op": 403},
    "accept_sellers_offer": {"ceres_op": 403, "pallas_op": 404, "outsider": 404},
    "accept_buyers_offer": {"vesta_op": 403, "pallas_op": 404, "outsider": 404},
    "decline_sellers_offer": {"ceres_op": 403, "pallas_op": 404, "outsider": 404},
    "decline_buyers_offer": {"vesta_op": 403, "pallas_op": 404, "outsider": 404},
    "withdraw_sellers_offer": {"vesta_op": 403, "pallas_op": 404, "outsider": 404},
    "withdraw_buyers_offer": {"ceres_op": 403, "pallas_op": 404, "outsider": 404},
    "cancel_trade": {"vesta_op": 403, "pallas_op": 404, "outsider": 404},
    "depart": {"vesta_op": 403, "pallas_op": 404, "outsider": 404},
    "depart_legacy": {"vesta_op": 403, "pallas_op": 404, "outsider": 404},
    "cancel_shipment": {"vesta_op": 403, "pallas_op": 404, "outsider": 404},
    "cancel_shipment_legacy": {"vesta_op": 403, "pallas_op": 404, "outsider": 404},
    # Delivery posts the buyer's credits: the buyer's call, never the seller's.
    "deliver": {"ceres_op": 403, "pallas_op": 404, "outsider": 404},
    "deliver_legacy": {"ceres_op": 403, "pallas_op": 404, "outsider": 404},
    # A loss is decided by the side that bears it.
    "lost_seller_risk": {"vesta_op": 403, "pallas_op": 404, "outsider": 404},
    "lost_seller_risk_legacy": {"vesta_op": 403, "pallas_op": 404, "outsider": 404},
    "lost_buyer_risk": {"ceres_op": 403, "pallas_op": 404, "outsider": 404},
    "lost_buyer_risk_legacy": {"ceres_op": 403, "pallas_op": 404, "outsider": 404},
    "report_loss": {"pallas_op": 404, "outsider": 404},
    "deposit_vesta": {"vesta_op": 403, "ceres_op": 404, "pallas_op": 404, "outsider": 404},
    "withdraw_vesta": {"vesta_op": 403, "ceres_op": 404, "pallas_op": 404, "outsider": 404},
    "credit_limit_vesta": {"vesta_op": 403, "ceres_op": 404, "pallas_op": 404, "outsider": 404},
    "adjust_ceres": {"vesta_op": 404, "pallas_op": 404, "outsider": 404},
    "grant": {"ceres_op": 403, "pallas_op": 403, "outsider": 403},
    "grant_to_pallas": {"ceres_op": 403, "pallas_op": 403, "outsider": 403},
    "revoke": {"ceres_op": 403, "pallas_op": 404, "outsider": 404},
}

# Who may, as a control: the same request succeeds for them, so each refusal above is the
# rule's doing and not a malformed request's.
ALLOWED = {
    "trade": "ceres_op",  # inside Vesta's agreement
    "trade_buyer_risk": "dispatcher",
    "trade_over_unit_price": "dispatcher",
    "trade_over_total": "dispatcher",
    "trade_of_buyers_goods": "dispatcher",
    "trade_from_pallas": "dispatcher",
    "propose": "ceres_op",
    "accept_sellers_offer": "vesta_op",
    "accept_buyers_offer": "ceres_op",
    "decline_sellers_offer": "vesta_op",
    "decline_buyers_offer": "ceres_op",
    "withdraw_sellers_offer": "ceres_op",
    "withdraw_buyers_offer": "vesta_op",
    "cancel_trade": "ceres_op",
    "depart": "ceres_op",
    "depart_legacy": "ceres_op",
    "cancel_shipment": "ceres_op",
    "cancel_shipment_legacy": "ceres_op",
    "deliver": "vesta_op",
    "deliver_legacy": "vesta_op",
    "lost_seller_risk": "ceres_op",
    "lost_seller_risk_legacy": "ceres_op",
    "lost_buyer_risk": "vesta_op",
    "lost_buyer_risk_legacy": "vesta_op",
    "report_loss": "ceres_op",
    "deposit_vesta": "dispatcher",
    "withdraw_vesta": "dispatcher",
    "credit_limit_vesta": "dispatcher",
    "adjust_ceres": "ceres_op",
    "grant": "vesta_op",
    "grant_to_pallas": "vesta_op",
    "revoke": "vesta_op",
}

CASES = [
    (action, who, status)
    for action, refused in REFUSED.items()
    for who, status in {**refused, "anonymous": 401}.items()
]


def send(api, user, action, world):
    method, path, body = REQUESTS[action](world)
    return getattr(api(user), method)(path, body, format="json")


@pytest.mark.parametrize(("action", "who", "status"), CASES, ids=[f"{a}-{w}" for a, w, _ in CASES])
def test_no_one_but_the_stations_own_say_causes_the_write(api, world, action, who, status):
    before = snapshot()

    response = send(api, world.people[who], action, world)

    assert response.status_code == status, (action, who, response.content[:400])
    assert snapshot() == before, (action, who)


@pytest.mark.parametrize("action", sorted(ALLOWED))
def test_the_stations_own_say_does_cause_it(api, world, action):
    """The control: each request of the matrix, from someone whose say it is, is done."""
    before = snapshot()

    response = send(api, world.people[ALLOWED[action]], action, world)

    assert response.status_code in (200, 201), (action, response.content[:400])
    assert snapshot() != before
    assert_ledger_matches_levels()


def test_the_matrix_covers_every_request():
    assert set(REFUSED) == set(REQUESTS)
    assert set(ALLOWED) <= set(REQUESTS)


@pytest.mark.parametrize(
    "status", ["withdrawn", "declined", "expired", "accepted"], ids=lambda s: f"when-{s}"
)
def test_an_answered_or_lapsed_proposal_commits_nothing_more(api, world, status):
    """Accepting again, or after the proposer took it back, is a 409 with nothing written."""
    proposal = world.offered_by_seller
    ceres_op, vesta_op = world.people["ceres_op"], world.people["vesta_op"]
    if status == "expired":
        Proposal.objects.filter(pk=proposal.pk).update(expires_at=timezone.now())
    else:
        answerer = ceres_op if status == "withdrawn" else vesta_op
        verb = {"withdrawn": "withdraw", "declined": "decline", "accepted": "accept"}[status]
        answered = api(answerer).post(f"/api/proposals/{proposal.proposal_id}/{verb}/")
        assert answered.status_code == 200, answered.json()
    before = snapshot()

    for who, verb in [
        ("vesta_op", "accept"),
        ("vesta_op", "decline"),
        ("ceres_op", "withdraw"),
        ("dispatcher", "accept"),
    ]:
        again = api(world.people[who]).post(f"/api/proposals/{proposal.proposal_id}/{verb}/")
        assert again.status_code == 409, (who, verb, again.json())
    assert snapshot() == before


# ---------------------------------------------------------------------------------------------
# The sequences of the "What was seen", replayed.


def account(station) -> tuple[Decimal, Decimal]:
    a = Account.objects.get(station=station)
    return a.balance, a.held


def test_seen_a_buyer_risk_trade_priced_at_the_buyers_balance_then_departed_and_lost(
    api, ceres, vesta, water, ceres_op, vesta_op
):
    """(a) Ceres's operator sells Vesta water at Vesta's whole balance at Vesta's risk, departs
    it and declares it lost: Vesta would pay for nothing. Refused at the first step without an
    agreement, and without one that allows buyer_risk; and with one that does (Vesta's own
    say), the loss is still Vesta's to declare, not Ceres's."""
    give_stock(ceres, water, 10)
    client = api(ceres_op)
    balance = account(vesta)[0]
    body = trade_body(unit_price=str(balance), terms="buyer_risk")

    refused = client.post("/api/trades/", body, format="json")
    assert refused.status_code == 403, refused.json()
    assert refused.json()["code"] == "consent_required"
    grant_agreement(vesta, ceres)  # seller_risk only
    refused = client.post("/api/trades/", body, format="json")
    assert refused.status_code == 403, refused.json()
    assert not Trade.objects.exists()
    assert account(vesta) == (balance, 0)
    assert level(ceres, water).on_hand == 10

    # Vesta consents to buyer_risk trades with Ceres; Ceres places one, departs it.
    grant_agreement(vesta, ceres, allow_buyer_risk=True)
    placed = client.post("/api/trades/", body, format="json")
    assert placed.status_code == 201, placed.json()
    shipment_id = placed.json()["cargo"]["shipment_id"]
    departed = client.patch(f"/api/cargo/{shipment_id}/", {"status": "in_transit"})
    assert departed.status_code == 200, departed.json()
    before = snapshot()

    for method, path in [
        ("patch", f"/api/cargo/{shipment_id}/"),
        ("put", f"/api/cargo/update/{shipment_id}/"),
    ]:
        lost = getattr(client, method)(path, {"status": "lost"}, format="json")
        assert lost.status_code == 403, lost.json()
        assert VESTA in lost.json()["message"]
    assert snapshot() == before
    assert account(vesta) == (balance, balance)  # held, not paid: Vesta decides
    # All Ceres may do is say it fears the loss; Vesta hears of it and decides.
    reported = client.post(f"/api/cargo/{shipment_id}/report-loss/", {}, format="json")
    assert reported.status_code == 200, reported.json()
    assert account(vesta) == (balance, balance)
    delivered = api(vesta_op).patch(f"/api/cargo/{shipment_id}/", {"status": "delivered"})
    assert delivered.status_code == 200, delivered.json()
    assert account(vesta) == (0, 0)
    assert level(vesta, water).on_hand == 1
    assert_ledger_matches_levels()


def test_seen_the_buyer_declaring_a_departed_seller_risk_shipment_lost(
    api, stocked_ceres, vesta, water, ceres_op, vesta_op, vesta_grants_ceres
):
    """(b) Vesta's operator declares lost a seller_risk shipment Ceres sent: the hold would be
    voided and Ceres's goods written off, at Ceres's risk, without Ceres's say. Refused by
    both routes; Vesta may report it, and Ceres decides."""
    placed = api(ceres_op).post("/api/trades/", trade_body(quantity=5), format="json").json()
    shipment_id = placed["cargo"]["shipment_id"]
    departed = api(ceres_op).patch(f"/api/cargo/{shipment_id}/", {"status": "in_transit"})
    assert departed.status_code == 200, departed.json()
    before = snapshot()
    client = api(vesta_op)

    for method, path in [
        ("patch", f"/api/cargo/{shipment_id}/"),
        ("put", f"/api/cargo/update/{shipment_id}/"),
    ]:
        lost = getattr(client, method)(path, {"status": "lost"}, format="json")
        assert lost.status_code == 403, lost.json()
        assert CERES in lost.json()["message"]
    assert snapshot() == before
    assert Cargo.objects.get(shipment_id=shipment_id).status == "in_transit"
    assert level(vesta, water).incoming == 5
    assert Trade.objects.get(transaction_id=placed["transaction_id"]).settlement.status == (
        "pending"
    )

    reported = client.post(f"/api/cargo/{shipment_id}/report-loss/", {"note": "silent"})
    assert reported.status_code == 200
    assert reported.json()["status"] == "in_transit"
    decided = api(ceres_op).patch(f"/api/cargo/{shipment_id}/", {"status": "lost"})
    assert decided.status_code == 200, decided.json()
    assert Trade.objects.get(transaction_id=placed["transaction_id"]).settlement.status == (
        "voided"
    )


# ---------------------------------------------------------------------------------------------
# Need to know: Vesta's figures for Vesta's operators and dispatch staff only.


def vesta_figures(vesta) -> set[str]:
    """Vesta's balance, held, available and incoming as the API would write them (zero and
    figures equal to a trade's total the seller knows anyway left out)."""
    a = Account.objects.get(station=vesta)
    return {str(v) for v in (a.balance, a.held, a.available, a.incoming) if v} - {
        str(t.total.quantize(Decimal("0.01"))) for t in Trade.objects.all()
    }


def test_seen_a_409_naming_the_buyers_available_credits_to_the_seller(api, world):
    """(c) Every answer Ceres's or Pallas's operator gets, refusals included (a trade beyond
    Vesta's means inside its agreement, with and without an Idempotency-Key and its replay,
    a proposal of Vesta's accepted by Ceres, Vesta's account's routes), is free of Vesta's
    figures; Vesta's own operator is told them."""
    ceres_op, vesta_op = world.people["ceres_op"], world.people["vesta_op"]
    vesta = world.stations["vesta"]
    Agreement.objects.filter(pk=world.agreement.pk).update(
        max_unit_price=Decimal("999999.99"),
        max_trade_total=Decimal("999999.99"),
        max_outstanding=Decimal("999999.99"),
    )
    figures = vesta_figures(vesta)
    assert str(VESTA_FUNDS) in figures and len(figures) >= 3, figures
    too_much = trade_body(unit_price=str(VESTA_FUNDS + 1))  # its total is no figure of Vesta's
    answers = []

    client = api(ceres_op)
    answers.append(client.post("/api/trades/", too_much, format="json"))
    keyed = {"HTTP_IDEMPOTENCY_KEY": "probe-1"}
    answers.append(client.post("/api/trades/", too_much, format="json", **keyed))
    answers.append(client.post("/api/trades/", too_much, format="json", **keyed))  # replayed
    for refused in answers:
        assert refused.status_code == 409, refused.content
        assert refused.json()["code"] == "insufficient_credits"
        assert "available" not in refused.json()["detail"]
    # Vesta offers more than it has; Ceres accepts: refused, without Vesta's figures.
    offer = api(vesta_op).post("/api/proposals/", too_much, format="json").json()
    accepted = client.post(f"/api/proposals/{offer['proposal_id']}/accept/")
    assert accepted.status_code == 409 and accepted.json()["code"] == "insufficient_credits"
    answers.append(accepted)
    for path in (
        f"/api/accounts/{VESTA}/",
        f"/api/accounts/{VESTA}/history/",
        f"/api/accounts/{VESTA}/entries/",
        "/api/accounts/",
        f"/api/inventory/{VESTA}/",
        f"/api/agreements/{world.agreement.agreement_id}/",
        "/api/trades/",
        "/api/proposals/",
        f"/api/cargo/{shipment(world.pending)}/",
    ):
        answers.append(client.get(path))
        answers.append(api(world.people["pallas_op"]).get(path))
    for method, path, body in [
        REQUESTS["deposit_vesta"](world),
        REQUESTS["withdraw_vesta"](world),
        REQUESTS["credit_limit_vesta"](world),
    ]:
        answers.append(getattr(client, method)(path, body, format="json"))
    assert answers[-3].status_code == 404  # not "you may not": there is nothing to see

    for answer in answers:
        text = answer.content.decode()
        leaked = {f for f in figures if f in text}
        assert not leaked, (answer.request["PATH_INFO"], answer.status_code, leaked, text[:300])
    # The figures are Vesta's operators' to hear.
    offer = api(ceres_op).post("/api/proposals/", too_much, format="json").json()
    told = api(vesta_op).post(f"/api/proposals/{offer['proposal_id']}/accept/")
    assert told.status_code == 409
    assert told.json()["detail"]["available"] == str(Account.objects.get(station=vesta).available)


def test_a_sellers_stock_is_not_told_to_the_buyer_accepting_its_offer(api, world):
    """Ceres offers more water than it has left; Vesta's operator accepts: refused, and told
    Ceres cannot deliver, never how much Ceres holds (its stock is its operators' business:
    GET /api/inventory/ceres-prime/ is a 404 to Vesta's operator)."""
    ceres = world.stations["ceres"]
    water = level(ceres, world.pending.lines.first().commodity)
    on_hand = water.on_hand
    assert on_hand == 97
    offer = api(world.people["ceres_op"]).post(
        "/api/proposals/", trade_body(quantity=on_hand + 50), format="json"
    )
    before = snapshot()

    refused = api(world.people["vesta_op"]).post(
        f"/api/proposals/{offer.json()['proposal_id']}/accept/"
    )

    assert refused.status_code == 409, refused.json()
    assert refused.json()["code"] == "insufficient_stock"
    assert "available" not in refused.json()["detail"]
    assert str(on_hand) not in refused.content.decode()
    assert snapshot() == before
    assert api(world.people["vesta_op"]).get(f"/api/inventory/{CERES}/").status_code == 404
    # Dispatch staff, selling beyond Ceres's stock, are told the figures.
    own = api(world.people["dispatcher"]).post(
        "/api/trades/", trade_body(quantity=on_hand + 50), format="json"
    )
    assert own.status_code == 409
    assert own.json()["detail"]["available"] == on_hand


def test_no_event_routes_a_stations_account_to_another(api, world):
    """Through a busy run (trades placed, departed, delivered, lost, cancelled, proposals
    accepted, an agreement used), every account.changed event is routed to its own station
    alone, and no event Ceres's or Pallas's operators may receive carries Vesta's figures."""
    ceres_op, vesta_op = world.people["ceres_op"], world.people["vesta_op"]
    OutboxEvent.objects.all().delete()
    placed = api(ceres_op).post("/api/trades/", trade_body(quantity=2), format="json").json()
    api(ceres_op).patch(f"/api/cargo/{placed['cargo']['shipment_id']}/", {"status": "in_transit"})
    api(vesta_op).patch(f"/api/cargo/{placed['cargo']['shipment_id']}/", {"status": "delivered"})
    api(vesta_op).post(f"/api/proposals/{world.offered_by_seller.proposal_id}/accept/")
    api(ceres_op).post(f"/api/proposals/{world.offered_by_buyer.proposal_id}/accept/")
    api(ceres_op).post(f"/api/trades/{world.pending.transaction_id}/cancel/")
    api(ceres_op).patch(f"/api/cargo/{shipment(world.transit_seller_risk)}/", {"status": "lost"})
    api(vesta_op).patch(f"/api/cargo/{shipment(world.transit_buyer_risk)}/", {"status": "lost"})
    api(world.people["dispatcher"]).post(
        f"/api/accounts/{VESTA}/deposits/", {"amount": "7.31"}, format="json"
    )

    events = [(e.type, json.loads(json.loads(e.data))) for e in OutboxEvent.objects.all()]
    account_events = [(t, e) for t, e in events if t == "account.changed"]
    assert {e["payload"]["station"] for _, e in account_events} >= {CERES, VESTA}
    vesta_seen = set()
    for _, envelope in account_events:
        assert envelope["stations"] == [envelope["payload"]["station"]], envelope
        if envelope["payload"]["station"] == VESTA:
            payload = envelope["payload"]
            vesta_seen |= {payload[k] for k in ("balance", "held", "available")}
    totals = {str(t.total.quantize(Decimal("0.01"))) for t in Trade.objects.all()}
    secret = {f for f in vesta_seen if Decimal(f)} - totals
    assert secret, vesta_seen
    for who in ("ceres_op", "pallas_op"):
        receivable = receivable_stations(world.people[who])
        assert VESTA not in receivable
        for event_type, envelope in events:
            if set(envelope["stations"]) & receivable:
                text = json.dumps(envelope["payload"])
                assert not {f for f in secret if f in text}, (who, event_type, envelope)


# ---------------------------------------------------------------------------------------------
# Loose ends an attacker would try.


def test_an_expired_agreement_and_a_revoked_one_commit_nothing(api, world):
    client = api(world.people["ceres_op"])
    assert client.post("/api/trades/", trade_body(), format="json").status_code == 201
    Agreement.objects.filter(pk=world.agreement.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    before = snapshot()
    assert client.post("/api/trades/", trade_body(), format="json").status_code == 403
    assert snapshot() == before
    Agreement.objects.filter(pk=world.agreement.pk).update(expires_at=None)
    assert api(world.people["vesta_op"]).post(
        f"/api/agreements/{world.agreement.agreement_id}/revoke/"
    ).status_code == (200)
    before = snapshot()
    assert client.post("/api/trades/", trade_body(), format="json").status_code == 403
    again = api(world.people["vesta_op"]).post(
        f"/api/agreements/{world.agreement.agreement_id}/revoke/"
    )
    assert again.status_code == 409
    assert snapshot() == before


def test_an_agreement_another_buyer_granted_commits_nobody_else(api, world):
    """Pallas grants Ceres an agreement: Ceres's trades to Vesta gain nothing from it."""
    Agreement.objects.filter(pk=world.agreement.pk).update(revoked_at=timezone.now())
    grant_agreement(world.stations["pallas"], world.stations["ceres"], allow_buyer_risk=True)
    before = snapshot()

    for terms in ("seller_risk", "buyer_risk"):
        response = api(world.people["ceres_op"]).post(
            "/api/trades/", trade_body(terms=terms), format="json"
        )
        assert response.status_code == 403, response.json()
    assert snapshot() == before


def test_a_trade_body_cannot_name_an_agreement_of_its_choosing(api, world):
    """The agreement is found, never taken from the request."""
    body = {**trade_body(terms="buyer_risk"), "agreement": world.agreement.agreement_id}
    before = snapshot()
    response = api(world.people["ceres_op"]).post("/api/trades/", body, format="json")
    assert response.status_code in (400, 403), response.json()
    assert snapshot() == before
