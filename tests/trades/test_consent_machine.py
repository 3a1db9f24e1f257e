"""A property test of consent (issue 37): two competing stations, each with its operator,
dispatch staff and a stranger, doing random interleavings of everything that moves goods or
credits through the real API: trades placed (with and without an agreement), proposals made,
accepted, declined, withdrawn and let expire, shipments departed, delivered, cancelled and
declared lost by either side, losses reported, agreements granted, revoked and lapsed, stock
adjusted, credits withdrawn and deposited.

A model predicts every answer (who may, and what is short) and what each write moves. After
every step the database holds what the model does, and:

- a station's credits and goods move against it (its balance falls, its held rises, its stock
  on hand falls) only by its own operators' action, an agreement it granted, a proposal its
  operators made, or dispatch staff: checked from the database's figures against who acted;
- credits are conserved: every account's balance, the treasury's included, sums to zero;
- stock levels equal the ledger;
- an agreement's outstanding is what its trades still under way cost, and never its cap's
  excess.

Each example runs in a transaction rolled back at its end (tests/credits/test_model.py)."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from rest_framework.test import APIClient

from credits.models import Account, Transfer
from inventory.models import StockLevel
from inventory.services import operator_grant
from tests.factories import CommodityFactory, StationFactory, UserFactory, give_stock
from tests.helpers import assert_ledger_matches_levels
from trades.models import Agreement, Proposal, Trade
from trades.proposals import proposals_expire

pytestmark = pytest.mark.django_db

FUNDS = Decimal("300.00")
STOCK = 40
ZERO = Decimal("0.00")
DISPATCH, OUTSIDER = "dispatch", "outsider"
ACTORS = ["op0", "op1", DISPATCH, OUTSIDER]  # op<i> operates station i
UNDER_WAY = {"pending", "in_transit"}
NEXT = {"pending": {"in_transit", "cancelled"}, "in_transit": {"delivered", "lost"}}
TRADE_STATUS = {
    "pending": "initiated",
    "in_transit": "in_transit",
    "delivered": "completed",
    "cancelled": "cancelled",
    "lost": "failed",
}

# What each example's steps came to (rule, status, code), printed at the end (pytest -s):
# that the steps reach every outcome, refusals and successes alike.
OUTCOMES: Counter = Counter()
# The stations' operators twice as often as dispatch staff or the stranger: most steps are
# the competitors' own.
actors = st.sampled_from(["op0", "op1", "op0", "op1", DISPATCH, OUTSIDER])
station = st.integers(0, 1)
quantity = st.integers(1, 8)
price = st.integers(1, 2500).map(lambda c: Decimal(c) / 100)
terms = st.sampled_from(["seller_risk", "buyer_risk"])
which = st.integers(min_value=0)
# Offers now and then beyond what a station has: the answer's refusal is told to whom?
offered_price = st.one_of(price, st.integers(2500, 20000).map(lambda c: Decimal(c) / 100))
shipment_statuses = st.sampled_from(["in_transit", "in_transit", "delivered", "lost", "cancelled"])
routes = st.sampled_from(["patch", "put", "cancel"])
odds = st.integers(0, 3).map(lambda n: n == 0)  # one time in four
trade_terms = st.tuples(quantity, price, terms)
# What anyone may try (Consent.attempt).
attempts = st.sampled_from(
    [
        "place",
        "propose",
        "answer",
        "move",
        "cancel",
        "report_loss",
        "grant",
        "revoke",
        "adjust",
        "credits",
    ]
)
# An agreement's limits: unit price, trade total, outstanding, buyer_risk allowed.
limits = st.tuples(
    st.sampled_from(["5.00", "30.00"]),
    st.sampled_from(["50.00", "200.00"]),
    st.sampled_from(["100.00", "400.00"]),
    st.booleans(),
)


def says(actor: str, station: int) -> bool:
    """Whether `actor` has `station`'s say: its operator, or dispatch staff (the spec's rule,
    written here independently of trades.consent)."""
    return actor == DISPATCH or actor == f"op{station}"


def sees(actor: str, *stations: int) -> bool:
    return any(says(actor, s) for s in stations)


class Consent(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.atomic = transaction.atomic()  # each example rolled back at its end
        self.atomic.__enter__()
        self.water = CommodityFactory(code="water")
        self.stations = [
            StationFactory(code="ceres-prime", x=0.0, funds=FUNDS),
            StationFactory(code="vesta-yards", x=4.0, funds=FUNDS),
        ]
        self.codes = [s.code for s in self.stations]
        users = {}
        for i, s in enumerate(self.stations):
            give_stock(s, self.water, STOCK)
            users[f"op{i}"] = UserFactory(username=f"op{i}")
            operator_grant(user=users[f"op{i}"], stations=[s])
        users[DISPATCH] = UserFactory(username="dispatch-staff")
        users[DISPATCH].user_permissions.add(
            Permission.objects.get(codename="act_for_all_stations")
        )
        users[OUTSIDER] = UserFactory(username="stranger")
        self.users = users
        self.clients = {}
        for name, user in users.items():
            self.clients[name] = APIClient()
            self.clients[name].force_authenticate(user)
        # The model. Per station: credits [balance, held, incoming], stock [on_hand, incoming].
        self.credits = {i: [FUNDS, ZERO, ZERO] for i in range(2)}
        self.treasury = -2 * FUNDS
        self.stock = {i: [STOCK, 0] for i in range(2)}
        self.trades: list[dict] = []
        self.agreements: list[dict] = []
        self.proposals: list[dict] = []
        # Whose say the current step carries: the stations it may move against.
        self.authorised: set[int] = set()
        self.previous = self.figures()

    def teardown(self):
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    # --- helpers ------------------------------------------------------------------------------

    def call(self, actor, method, path, body=None, **headers):
        self.authorised = {i for i in range(2) if says(actor, i)}
        response = getattr(self.clients[actor], method)(path, body or {}, format="json", **headers)
        return response

    def expect(self, response, status: int, code: str | None = None):
        # What happened, for --hypothesis-show-statistics: that every outcome is reached.
        label = f"{sys._getframe(1).f_code.co_name} {status} {code or ''}".strip()
        event(label)
        OUTCOMES[label] += 1
        assert response.status_code == status, (status, response.status_code, response.content)
        if code is not None:
            assert response.json()["code"] == code, response.json()

    def available(self, i) -> Decimal:
        balance, held, _ = self.credits[i]
        return balance - held

    def covering(self, seller, buyer, unit_price, total, terms_):
        """The oldest of the buyer's active agreements with the seller whose limits the trade
        keeps (docs/domain.md#consent), or None."""
        for a in self.agreements:
            if (
                a["active"]
                and (a["seller"], a["buyer"]) == (seller, buyer)
                and a["max_unit_price"] >= unit_price
                and a["max_trade_total"] >= total
                and (terms_ == "seller_risk" or a["allow_buyer_risk"])
                and a["outstanding"] + total <= a["max_outstanding"]
            ):
                return a
        return None

    def shortage(self, seller, buyer, qty, total) -> str | None:
        if self.stock[seller][0] < qty:
            return "insufficient_stock"
        if self.available(buyer) < total:
            return "insufficient_credits"
        return None

    def told(self, actor, response, short_of: int):
        """A refusal for want of a station's goods or credits tells its figures to its own
        operators and dispatch staff, and to nobody else (docs/api.md#need-to-know)."""
        detail = response.json()["detail"]
        if not says(actor, short_of):
            assert "available" not in detail, (actor, short_of, response.json())
            return
        OUTCOMES[f"figures told to their own: {response.json()['code']}"] += 1
        if response.json()["code"] == "insufficient_credits":
            assert detail["available"] == str(self.available(short_of)), detail
        else:
            assert detail["available"] == self.stock[short_of][0], detail

    def placed(self, data, seller, buyer, qty, total, terms_, agreement, consent):
        """A trade placed (`data`: its representation): what it moved, and the ledger's record
        of whose say let the buyer's debit commit."""
        self.stock[seller][0] -= qty
        self.stock[buyer][1] += qty
        self.credits[buyer][1] += total
        self.credits[seller][2] += total
        if agreement is not None:
            agreement["outstanding"] += total
        self.trades.append(
            {
                "txn": data["transaction_id"],
                "shipment": data["cargo"]["shipment_id"],
                "seller": seller,
                "buyer": buyer,
                "qty": qty,
                "total": total,
                "terms": terms_,
                "status": "pending",
                "agreement": agreement,
            }
        )
        transfer = Transfer.objects.get(trade__transaction_id=data["transaction_id"])
        kind, by = consent
        assert transfer.consent == kind, (transfer.consent, consent)
        if kind == "agreement":
            assert transfer.agreement.agreement_id == agreement["id"]
            assert data["agreement"] == agreement["id"]
        else:
            assert transfer.consented_by == self.users[by]
            assert data["agreement"] is None

    def end(self, t, status):
        """What a trade's end moves (credits.services.RESOLUTION, inventory.services)."""
        seller, buyer, qty, total = t["seller"], t["buyer"], t["qty"], t["total"]
        if status == "delivered":
            self.stock[buyer][1] -= qty
            self.stock[buyer][0] += qty
        elif status == "cancelled":
            self.stock[buyer][1] -= qty
            self.stock[seller][0] += qty
        elif status == "lost":
            self.stock[buyer][1] -= qty
        pays = status == "delivered" or (status == "lost" and t["terms"] == "buyer_risk")
        self.credits[buyer][1] -= total
        self.credits[seller][2] -= total
        if pays:
            self.credits[buyer][0] -= total
            self.credits[seller][0] += total
        if t["agreement"] is not None:
            t["agreement"]["outstanding"] -= total

    # --- agreements ---------------------------------------------------------------------------

    def grant(self, actor, buyer, unit_cap, trade_cap, cap, buyer_risk):
        seller = 1 - buyer
        response = self.call(
            actor,
            "post",
            "/api/agreements/",
            {
                "buyer": self.codes[buyer],
                "seller": self.codes[seller],
                "max_unit_price": unit_cap,
                "max_trade_total": trade_cap,
                "max_outstanding": cap,
                "allow_buyer_risk": buyer_risk,
            },
        )
        if not says(actor, buyer):
            return self.expect(response, 403)
        if Decimal(trade_cap) > Decimal(cap):
            return self.expect(response, 400)
        self.expect(response, 201)
        self.agreements.append(
            {
                "id": response.json()["agreement_id"],
                "buyer": buyer,
                "seller": seller,
                "max_unit_price": Decimal(unit_cap),
                "max_trade_total": Decimal(trade_cap),
                "max_outstanding": Decimal(cap),
                "allow_buyer_risk": buyer_risk,
                "active": True,
                "revoked": False,
                "outstanding": ZERO,
                "granted_by": actor,
            }
        )

    def revoke(self, actor, n):
        a = self.agreements[n % len(self.agreements)]
        response = self.call(actor, "post", f"/api/agreements/{a['id']}/revoke/")
        if not sees(actor, a["buyer"], a["seller"]):
            return self.expect(response, 404)
        if not says(actor, a["buyer"]):
            return self.expect(response, 403)
        if a["revoked"]:
            return self.expect(response, 409)
        self.expect(response, 200)
        a["revoked"], a["active"] = True, False

    def lapse(self, n):
        """Its time passes (expires_at set into the past)."""
        a = self.agreements[n % len(self.agreements)]
        self.authorised = set()
        Agreement.objects.filter(agreement_id=a["id"]).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
        a["active"] = False

    # --- trades -------------------------------------------------------------------------------

    def trade_body(self, seller, qty, unit_price, terms_):
        return {
            "seller": self.codes[seller],
            "buyer": self.codes[1 - seller],
            "items": [{"commodity": "water", "quantity": qty, "unit_price": str(unit_price)}],
            "terms": terms_,
        }

    def place(self, actor, seller, qty, unit_price, terms_):
        buyer, total = 1 - seller, qty * unit_price
        body = self.trade_body(seller, qty, unit_price, terms_)
        response = self.call(actor, "post", "/api/trades/", body)
        if not says(actor, seller):
            return self.expect(response, 403, "permission_denied")
        agreement = None
        if says(actor, buyer):
            consent = ("dispatch" if actor == DISPATCH else "operator", actor)
        else:
            agreement = self.covering(seller, buyer, unit_price, total, terms_)
            if agreement is None:
                return self.expect(response, 403, "consent_required")
            self.authorised.add(buyer)  # the buyer's say, given by its agreement
            consent = ("agreement", None)
        short = self.shortage(seller, buyer, qty, total)
        if short:
            self.expect(response, 409, short)
            self.told(actor, response, seller if short == "insufficient_stock" else buyer)
            return None
        self.expect(response, 201)
        if agreement is not None:
            event("placed under an agreement")
            OUTCOMES["place 201 under an agreement"] += 1
        self.placed(response.json(), seller, buyer, qty, total, terms_, agreement, consent)

    # --- proposals ----------------------------------------------------------------------------

    def propose(self, actor, seller, qty, unit_price, terms_):
        buyer = 1 - seller
        body = self.trade_body(seller, qty, unit_price, terms_)
        response = self.call(actor, "post", "/api/proposals/", body)
        if says(actor, seller):
            side = "seller"
        elif says(actor, buyer):
            side = "buyer"
        else:
            return self.expect(response, 403)
        self.expect(response, 201)
        assert response.json()["proposed_by_side"] == side
        self.proposals.append(
            {
                "id": response.json()["proposal_id"],
                "seller": seller,
                "buyer": buyer,
                "side": side,
                "qty": qty,
                "unit_price": unit_price,
                "total": qty * unit_price,
                "terms": terms_,
                "status": "open",
                "proposer": actor,
            }
        )

    def answer(self, actor, n, verb):
        p = self.proposals[n % len(self.proposals)]
        response = self.call(actor, "post", f"/api/proposals/{p['id']}/{verb}/")
        if not sees(actor, p["seller"], p["buyer"]):
            return self.expect(response, 404)
        answering = "buyer" if p["side"] == "seller" else "seller"
        side = p["side"] if verb == "withdraw" else answering
        if not says(actor, p[side]):
            return self.expect(response, 403)
        if p["status"] != "open":
            return self.expect(response, 409)
        if verb != "accept":
            self.expect(response, 200)
            p["status"] = {"decline": "declined", "withdraw": "withdrawn"}[verb]
            return None
        seller, buyer, qty, total = p["seller"], p["buyer"], p["qty"], p["total"]
        # The proposer's say stands for its side.
        self.authorised |= {i for i in range(2) if says(p["proposer"], i)}
        short = self.shortage(seller, buyer, qty, total)
        if short:
            self.expect(response, 409, short)
            self.told(actor, response, seller if short == "insufficient_stock" else buyer)
            return None
        self.expect(response, 200)
        p["status"] = "accepted"
        # The buyer's say: the answer when the seller proposed, the proposal otherwise.
        if answering == "buyer":
            consent = ("dispatch" if actor == DISPATCH else "operator", actor)
        else:
            consent = ("operator", p["proposer"])
        trade = Trade.objects.select_related("cargo", "agreement").get(
            transaction_id=response.json()["transaction_id"]
        )
        data = {
            "transaction_id": trade.transaction_id,
            "cargo": {"shipment_id": trade.cargo.shipment_id},
            "agreement": None if trade.agreement is None else trade.agreement.agreement_id,
        }
        self.placed(data, seller, buyer, qty, total, p["terms"], None, consent)

    def expire(self, n):
        """Its time passes, and the sweep records it."""
        p = self.proposals[n % len(self.proposals)]
        self.authorised = set()
        Proposal.objects.filter(proposal_id=p["id"]).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
        swept = proposals_expire()
        assert swept == (1 if p["status"] == "open" else 0)
        if p["status"] == "open":
            p["status"] = "expired"

    # --- shipments ----------------------------------------------------------------------------

    def move(self, actor, n, status, legacy):
        t = self.trades[n % len(self.trades)]
        path = f"/api/cargo/update/{t['shipment']}/" if legacy else f"/api/cargo/{t['shipment']}/"
        response = self.call(actor, "put" if legacy else "patch", path, {"status": status})
        if not sees(actor, t["seller"], t["buyer"]):
            return self.expect(response, 404)
        if status == t["status"]:
            return self.expect(response, 200)  # asking for what it is changes nothing
        if status in ("in_transit", "cancelled"):
            deciding = t["seller"]
        elif status == "delivered":
            deciding = t["buyer"]
        else:  # lost: the side that bears it
            deciding = t["buyer"] if t["terms"] == "buyer_risk" else t["seller"]
        if not says(actor, deciding):
            return self.expect(response, 403)
        if status not in NEXT.get(t["status"], set()):
            return self.expect(response, 409)
        self.expect(response, 200)
        if status != "in_transit":
            self.end(t, status)
        t["status"] = status

    def cancel(self, actor, n):
        t = self.trades[n % len(self.trades)]
        response = self.call(actor, "post", f"/api/trades/{t['txn']}/cancel/")
        if not sees(actor, t["seller"], t["buyer"]):
            return self.expect(response, 404)
        if not says(actor, t["seller"]):
            return self.expect(response, 403)
        if t["status"] != "pending":
            return self.expect(response, 409)
        self.expect(response, 200)
        self.end(t, "cancelled")
        t["status"] = "cancelled"

    def report_loss(self, actor, n):
        t = self.trades[n % len(self.trades)]
        response = self.call(actor, "post", f"/api/cargo/{t['shipment']}/report-loss/")
        self.authorised = set()  # a report moves nothing of anyone's
        if not sees(actor, t["seller"], t["buyer"]):
            return self.expect(response, 404)
        if t["status"] != "in_transit":
            return self.expect(response, 409)
        self.expect(response, 200)

    # --- a station's own stock and credits ----------------------------------------------------

    def adjust(self, actor, at, delta):
        response = self.call(
            actor,
            "post",
            f"/api/inventory/{self.codes[at]}/adjustments/",
            {"commodity": "water", "delta": delta, "reason": "count"},
        )
        if not says(actor, at):
            return self.expect(response, 404)
        if self.stock[at][0] + delta < 0:
            return self.expect(response, 409)
        self.expect(response, 201)
        self.stock[at][0] += delta

    def move_credits(self, actor, at, amount, deposit):
        kind = "deposits" if deposit else "withdrawals"
        response = self.call(
            actor, "post", f"/api/accounts/{self.codes[at]}/{kind}/", {"amount": str(amount)}
        )
        if not says(actor, at):
            return self.expect(response, 404)
        if actor != DISPATCH:
            return self.expect(response, 403)
        if not deposit and self.available(at) < amount:
            return self.expect(response, 409)
        self.expect(response, 201)
        sign = 1 if deposit else -1
        self.credits[at][0] += sign * amount
        self.treasury -= sign * amount

    # --- the rules: each station's own business, and everyone's attempts ---------------------

    @initialize(limits=st.lists(limits, min_size=2, max_size=2))
    def agreements_each_way(self, limits):
        """Each station's operator grants its competitor an agreement (a 400 when its caps
        contradict each other: then none that way)."""
        for buyer, terms_of in enumerate(limits):
            self.grant(f"op{buyer}", buyer, *terms_of)

    @rule(
        change=st.sampled_from(["grant", "grant", "revoke", "lapse", "expire"]),
        buyer=station,
        terms_of=limits,
        n=which,
    )
    def consent_changes(self, change, buyer, terms_of, n):
        """A buyer's operator grants an agreement or revokes one; or time passes: an
        agreement lapses, a proposal expires and the sweep records it."""
        active = [i for i, a in enumerate(self.agreements) if not a["revoked"]]
        if change == "grant":
            self.grant(f"op{buyer}", buyer, *terms_of)
        elif change == "revoke" and active:
            n = active[n % len(active)]
            self.revoke(f"op{self.agreements[n]['buyer']}", n)
        elif change == "lapse" and self.agreements:
            self.lapse(n)
        elif change == "expire" and self.proposals:
            self.expire(n)

    @precondition(lambda self: any(t["status"] in UNDER_WAY for t in self.trades))
    @rule(n=which, end=st.sampled_from(["delivered", "lost", "cancelled"]), staff=odds)
    def journey(self, n, end, staff):
        """A trade under way is taken to its end by the ends whose calls they are."""
        under_way = [i for i, t in enumerate(self.trades) if t["status"] in UNDER_WAY]
        n = under_way[n % len(under_way)]
        t = self.trades[n]
        if t["status"] == "pending" and end != "cancelled":
            self.move(DISPATCH if staff else f"op{t['seller']}", n, "in_transit", legacy=False)
            self.nothing_moves_against_a_station_without_its_say(self.figures())
        deciding = self.deciding(t, end)
        self.shipment_change(DISPATCH if staff else f"op{deciding}", n, end, "patch")

    @rule(seller=station, qty=quantity, unit_price=price, terms_=terms)
    def sell(self, seller, qty, unit_price, terms_):
        """The seller's operator sells to its competitor: inside an agreement, or refused."""
        self.place(f"op{seller}", seller, qty, unit_price, terms_)

    @rule(by=station, seller=station, qty=quantity, unit_price=offered_price, terms_=terms)
    def offer(self, by, seller, qty, unit_price, terms_):
        self.propose(f"op{by}", seller, qty, unit_price, terms_)

    @rule(buyer=station, by_buyer=st.booleans())
    def beyond_means(self, buyer, by_buyer):
        """One side offers a trade one credit beyond what the buyer may spend, the other side
        accepts: refused, and the buyer's figures are told only to the buyer's own."""
        seller = 1 - buyer
        unit_price = self.available(buyer) + Decimal("0.01")
        self.propose(f"op{buyer if by_buyer else seller}", seller, 1, unit_price, "seller_risk")
        self.answer(f"op{seller if by_buyer else buyer}", len(self.proposals) - 1, "accept")

    @precondition(lambda self: self.proposals)
    @rule(n=which, verb=st.sampled_from(["accept", "accept", "decline", "withdraw"]), staff=odds)
    def answer_offer(self, n, verb, staff):
        """The side whose say it is answers (or dispatch staff)."""
        self.answer(DISPATCH if staff else f"op{self.whose_answer(n, verb)}", n, verb)

    @precondition(lambda self: self.proposals)
    @rule(n=which, verb=st.sampled_from(["accept", "accept", "decline", "withdraw"]))
    def answer_out_of_turn(self, n, verb):
        """The other side tries it: the proposer accepting its own offer, say."""
        self.answer(f"op{1 - self.whose_answer(n, verb)}", n, verb)

    def whose_answer(self, n, verb) -> int:
        p = self.proposals[n % len(self.proposals)]
        answering = "buyer" if p["side"] == "seller" else "seller"
        return p[p["side"] if verb == "withdraw" else answering]

    @precondition(lambda self: self.trades)
    @rule(n=which, status=shipment_statuses, route=routes, staff=odds)
    def decide(self, n, status, route, staff):
        """The end whose call it is moves a shipment on (or dispatch staff)."""
        deciding = self.deciding(self.trades[n % len(self.trades)], status)
        self.shipment_change(DISPATCH if staff else f"op{deciding}", n, status, route)

    @precondition(lambda self: self.trades)
    @rule(n=which, status=shipment_statuses, route=routes)
    def usurp(self, n, status, route):
        """The other end tries the call that is not its own: the seller delivering, the buyer
        departing or cancelling, the end that does not bear a loss declaring it."""
        deciding = self.deciding(self.trades[n % len(self.trades)], status)
        self.shipment_change(f"op{1 - deciding}", n, status, route)

    def shipment_change(self, actor, n, status, route):
        if status == "cancelled" and route == "cancel":
            self.cancel(actor, n)
        else:
            self.move(actor, n, status, legacy=route == "put")

    @staticmethod
    def deciding(t, status) -> int:
        """Whose call a shipment's change is (docs/domain.md#consent): departure and
        cancellation the seller's, delivery the buyer's, a loss the side that bears it."""
        if status in ("in_transit", "cancelled"):
            return t["seller"]
        if status == "delivered":
            return t["buyer"]
        return t["buyer"] if t["terms"] == "buyer_risk" else t["seller"]

    @rule(actor=st.sampled_from(["op0", "op1"]), action=attempts, data=st.data())
    def rival(self, actor, action, data):
        """A competitor's operator tries anything: most of it is the other station's say."""
        self.attempt(actor, action, data)

    @rule(
        actor=actors,
        action=attempts,
        data=st.data(),
    )
    def attempt(self, actor, action, data):
        """Anyone tries anything: the competitor, the stranger, dispatch staff."""
        if action == "place":
            self.place(actor, data.draw(station), *data.draw(trade_terms))
        elif action == "propose":
            self.propose(actor, data.draw(station), *data.draw(trade_terms))
        elif action == "answer" and self.proposals:
            verb = data.draw(st.sampled_from(["accept", "decline", "withdraw"]))
            self.answer(actor, data.draw(which), verb)
        elif action == "move" and self.trades:
            status = data.draw(st.sampled_from(["in_transit", "delivered", "cancelled", "lost"]))
            self.move(actor, data.draw(which), status, legacy=data.draw(st.booleans()))
        elif action == "cancel" and self.trades:
            self.cancel(actor, data.draw(which))
        elif action == "report_loss" and self.trades:
            self.report_loss(actor, data.draw(which))
        elif action == "grant":
            self.grant(actor, data.draw(station), *data.draw(limits))
        elif action == "revoke" and self.agreements:
            self.revoke(actor, data.draw(which))
        elif action == "adjust":
            self.adjust(actor, data.draw(station), data.draw(st.integers(-50, 20).filter(bool)))
        elif action == "credits":
            self.move_credits(actor, data.draw(station), data.draw(price), data.draw(st.booleans()))

    # --- what must always hold ----------------------------------------------------------------

    def figures(self) -> dict:
        accounts = {
            a.station_id: (a.balance, a.held, a.incoming)
            for a in Account.objects.filter(station__in=self.stations)
        }
        levels = {
            lvl.station_id: (lvl.on_hand, lvl.incoming)
            for lvl in StockLevel.objects.filter(commodity=self.water)
        }
        return {
            i: {"credits": accounts[s.pk], "stock": levels[s.pk]}
            for i, s in enumerate(self.stations)
        }

    @invariant()
    def holds(self):
        """Every check, in one order, on the figures read once."""
        now = self.figures()
        self.nothing_moves_against_a_station_without_its_say(now)
        self.the_database_holds_what_the_model_does(now)
        self.credits_are_conserved()
        assert_ledger_matches_levels()  # stock levels equal the ledger
        self.an_agreements_outstanding_is_its_trades_under_way()

    def nothing_moves_against_a_station_without_its_say(self, now):
        for i in range(2):
            (b0, h0, _), (b1, h1, _) = self.previous[i]["credits"], now[i]["credits"]
            on_hand0, on_hand1 = self.previous[i]["stock"][0], now[i]["stock"][0]
            against = b1 < b0 or h1 > h0 or on_hand1 < on_hand0
            assert not against or i in self.authorised, (i, self.previous[i], now[i])
        self.previous = now
        self.authorised = set()

    def the_database_holds_what_the_model_does(self, now):
        for i in range(2):
            assert list(now[i]["credits"]) == self.credits[i], (i, now[i], self.credits[i])
            assert list(now[i]["stock"]) == self.stock[i], (i, now[i], self.stock[i])
        assert Account.objects.get(is_treasury=True).balance == self.treasury
        statuses = dict(Trade.objects.values_list("transaction_id", "status"))
        assert statuses == {t["txn"]: TRADE_STATUS[t["status"]] for t in self.trades}
        stored = {p.proposal_id: p.current_status() for p in Proposal.objects.all()}
        assert stored == {p["id"]: p["status"] for p in self.proposals}

    def credits_are_conserved(self):
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred zero-sum check
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        assert Account.objects.aggregate(total=Sum("balance"))["total"] == 0

    def an_agreements_outstanding_is_its_trades_under_way(self):
        stored = dict(Agreement.objects.values_list("agreement_id", "outstanding"))
        for a in self.agreements:
            under_way = sum(
                (
                    t["total"]
                    for t in self.trades
                    if t["agreement"] is a and t["status"] in UNDER_WAY
                ),
                ZERO,
            )
            assert stored[a["id"]] == a["outstanding"] == under_way, (a, stored[a["id"]])
            assert under_way <= a["max_outstanding"]


@pytest.mark.slow
def test_no_station_pays_or_loses_goods_without_its_say_through_random_sequences():
    run_state_machine_as_test(
        Consent,
        settings=settings(
            max_examples=50,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    print(sorted(OUTCOMES.items()))
