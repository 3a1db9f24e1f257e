"""Credits under races, in real threads against PostgreSQL: never negative, never created or
lost, every transfer resolved exactly once."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal

import pytest
from django.db.models import Sum

from cargo.models import Cargo
from cargo.services import shipment_update
from credits.models import Account, Entry, Transfer
from credits.services import credits_deposit, credits_withdraw
from tests.factories import CommodityFactory, StationFactory, give_stock, make_trade
from tests.inventory.test_concurrency import run_at_once

pytestmark = pytest.mark.django_db(transaction=True)


def assert_entries_replay_to_the_balances() -> None:
    """Each account's balance, held and incoming equal the sums of its entries' changes, and
    every account, the treasury's included, sums to zero."""
    for account in Account.objects.all():
        sums = account.entries.aggregate(
            balance=Sum("balance_delta"), held=Sum("held_delta"), incoming=Sum("incoming_delta")
        )
        assert (account.balance, account.held, account.incoming) == tuple(
            sums[k] or 0 for k in ("balance", "held", "incoming")
        ), account
    assert Account.objects.aggregate(total=Sum("balance"))["total"] == 0


def test_thirty_buyers_racing_for_credits_that_cover_five_trades():
    seller = StationFactory(code="ceres-prime")
    buyer = StationFactory(code="vesta-yards", funds=Decimal("50.00"))
    water = CommodityFactory(code="water")
    give_stock(seller, water, 1_000)

    results = run_at_once([lambda: make_trade(seller, buyer, (water, 1))] * 30, workers=30)

    outcomes = Counter(type(r).__name__ for r in results)
    assert outcomes == {"Trade": 5, "InsufficientCredits": 25}, outcomes
    account = Account.objects.get(station=buyer)
    assert (account.balance, account.held, account.available) == (Decimal("50.00"), 50, 0)
    assert Transfer.objects.filter(kind="trade", status="pending").count() == 5
    assert_entries_replay_to_the_balances()


def test_shipments_moving_while_deposits_and_withdrawals_run_resolve_each_transfer_once():
    stations = [StationFactory(funds=Decimal("500.00")) for _ in range(4)]
    water = CommodityFactory(code="water")
    for station in stations:
        give_stock(station, water, 1_000)
    rng = random.Random(7)
    trades = [
        make_trade(seller, rng.choice([s for s in stations if s != seller]), (water, 3))
        for seller in stations
        for _ in range(2)
    ]
    for trade in trades[::2]:
        shipment_update(shipment=trade.cargo, status="in_transit")

    def move(trade, status):
        return lambda: shipment_update(shipment=Cargo.objects.get(trade=trade), status=status)

    jobs = []
    for trade in trades:
        # Two competing moves per shipment: exactly one wins.
        departed = Cargo.objects.get(trade=trade).status == "in_transit"
        jobs += [
            move(trade, s)
            for s in (["delivered", "lost"] if departed else ["cancelled", "in_transit"])
        ]
    for station in stations[:2]:  # 16 shipment moves and 4 of these: 20 threads
        jobs.append(lambda s=station: credits_deposit(station=s, amount=Decimal("7.00")))
        jobs.append(lambda s=station: credits_withdraw(station=s, amount=Decimal("5.00")))
    rng.shuffle(jobs)
    results = run_at_once(jobs, workers=20)

    errors = [r for r in results if isinstance(r, Exception)]
    assert {type(e).__name__ for e in errors} <= {"InvalidTransition"}, errors
    assert len(errors) == len(trades)
    # At the seller's risk (the default terms) a lost shipment is voided like a cancelled one.
    settled_as = {"delivered": "posted", "lost": "voided", "cancelled": "voided"}
    for trade in trades:
        transfer = Transfer.objects.get(trade=trade)
        shipment = Cargo.objects.get(trade=trade).status
        assert transfer.status == settled_as.get(shipment, "pending"), (shipment, transfer)
        resolutions = Entry.objects.filter(transfer=transfer, kind__in=["settlement", "release"])
        assert resolutions.count() == (2 if shipment in settled_as else 0), transfer
    assert_entries_replay_to_the_balances()
