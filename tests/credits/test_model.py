"""A property test: random sequences of trades, departures, deliveries, cancellations, losses
under both terms, deposits, withdrawals and credit limit changes, against a model of accounts
and shipments. After every step the database holds what the model does and credits sum to
zero (the deferred checks made to run then, not at a COMMIT the test never reaches)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from cargo.services import shipment_update
from core.errors import InvalidTransition
from credits.errors import CreditLimitInUse, InsufficientCredits
from credits.models import Account
from credits.services import credits_deposit, credits_set_limit, credits_withdraw
from tests.factories import CommodityFactory, StationFactory, give_stock
from trades.services import LineSpec, trade_initiate

pytestmark = pytest.mark.django_db

STATIONS = 3
cents = st.integers(min_value=1, max_value=50_000).map(lambda c: Decimal(c) / 100)
station = st.integers(min_value=0, max_value=STATIONS - 1)

# What a shipment may do next, and what becomes of its hold (seller_risk, buyer_risk).
NEXT = {"pending": {"in_transit", "cancelled"}, "in_transit": {"delivered", "lost"}}
POSTS = {("delivered", "seller_risk"), ("delivered", "buyer_risk"), ("lost", "buyer_risk")}


class Credits(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.atomic = transaction.atomic()  # each example rolled back at its end
        self.atomic.__enter__()
        self.water = CommodityFactory()
        self.stations = [StationFactory(funds=Decimal("100.00")) for _ in range(STATIONS)]
        for s in self.stations:
            give_stock(s, self.water, 1_000_000)
        # The model: [balance, held, incoming, credit_limit] per station; the treasury.
        self.accounts = {s.pk: [Decimal("100.00"), 0, 0, 0] for s in self.stations}
        self.treasury = -Decimal("100.00") * STATIONS
        self.trades: list[dict] = []

    def teardown(self):
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    def available(self, pk) -> Decimal:
        balance, held, _, limit = self.accounts[pk]
        return balance - held + limit

    @rule(seller=station, buyer=station, quantity=st.integers(1, 20), price=cents,
          terms=st.sampled_from(["seller_risk", "buyer_risk"]))  # fmt: skip
    def trade(self, seller, buyer, quantity, price, terms):
        if seller == buyer:
            return
        s, b = self.stations[seller], self.stations[buyer]
        amount = quantity * price
        try:
            trade = trade_initiate(
                seller=s, buyer=b, lines=[LineSpec(self.water, quantity, price)], terms=terms
            )
        except InsufficientCredits:
            assert self.available(b.pk) < amount
            return
        assert self.available(b.pk) >= amount
        self.accounts[b.pk][1] += amount
        self.accounts[s.pk][2] += amount
        self.trades.append(
            {"trade": trade, "seller": s.pk, "buyer": b.pk, "amount": amount,
             "terms": terms, "status": "pending"}
        )  # fmt: skip

    @precondition(lambda self: self.trades)
    @rule(which=st.integers(min_value=0), to=st.sampled_from(
        ["in_transit", "delivered", "cancelled", "lost"]))  # fmt: skip
    def move(self, which, to):
        t = self.trades[which % len(self.trades)]
        if to == t["status"]:
            return  # asking for the status it has changes nothing (tested with the cargo app)
        try:
            shipment_update(shipment=t["trade"].cargo, status=to)
        except InvalidTransition:
            assert to not in NEXT.get(t["status"], set())
            return
        assert to in NEXT.get(t["status"], set())
        t["status"] = to
        if to == "in_transit":
            return
        buyer, seller, amount = self.accounts[t["buyer"]], self.accounts[t["seller"]], t["amount"]
        buyer[1] -= amount
        seller[2] -= amount
        if (to, t["terms"]) in POSTS:
            buyer[0] -= amount
            seller[0] += amount

    @rule(which=station, amount=cents)
    def deposit(self, which, amount):
        credits_deposit(station=self.stations[which], amount=amount)
        self.accounts[self.stations[which].pk][0] += amount
        self.treasury -= amount

    @rule(which=station, amount=cents)
    def withdraw(self, which, amount):
        pk = self.stations[which].pk
        try:
            credits_withdraw(station=self.stations[which], amount=amount)
        except InsufficientCredits:
            assert self.available(pk) < amount
            return
        assert self.available(pk) >= amount
        self.accounts[pk][0] -= amount
        self.treasury += amount

    @rule(which=station, limit=st.integers(0, 500).map(Decimal))
    def set_limit(self, which, limit):
        pk = self.stations[which].pk
        balance, held, _, _ = self.accounts[pk]
        try:
            credits_set_limit(station=self.stations[which], credit_limit=limit)
        except CreditLimitInUse:
            assert limit < held - balance
            return
        assert limit >= held - balance
        self.accounts[pk][3] = limit

    @invariant()
    def the_database_holds_what_the_model_does(self):
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred zero-sum check
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        stored = {
            a.station_id: [a.balance, a.held, a.incoming, a.credit_limit]
            for a in Account.objects.filter(station__in=self.stations)
        }
        assert stored == self.accounts
        assert Account.objects.get(is_treasury=True).balance == self.treasury
        assert Account.objects.aggregate(total=Sum("balance"))["total"] == 0


def test_credits_follow_the_model_through_random_sequences():
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        Credits,
        settings=settings(
            max_examples=20,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
