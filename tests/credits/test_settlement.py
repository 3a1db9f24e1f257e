"""Settlement follows the shipment: a placed trade holds its total from the buyer, delivery
posts it, cancellation voids it, a loss follows the trade's terms; each exactly once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from cargo.services import shipment_update, trade_cancel
from credits.errors import InsufficientCredits, TransferFailed
from credits.models import Account, Entry, Transfer
from credits.selectors import balances_as_of, balances_of, credits_total, settlement_of
from credits.services import settlement_resolve
from inventory.models import Station, StockLevel
from tests.factories import StationFactory, give_stock, make_trade
from trades.models import Trade
from trades.services import LineSpec, trade_initiate

pytestmark = pytest.mark.django_db


def account(station) -> Account:
    return Account.objects.get(station=station)


def buy(market, quantity=2, price="10.00", terms="seller_risk"):
    """A trade of `quantity` water at `price` from the market's seller to its buyer."""
    return trade_initiate(
        seller=market.seller,
        buyer=market.buyer,
        lines=[LineSpec(market.water, quantity, Decimal(price))],
        terms=terms,
    )


def test_placing_a_trade_holds_its_total_from_the_buyer_for_the_seller(market):
    trade = buy(market, quantity=3, price="10.50")
    buyer, seller = account(market.buyer), account(market.seller)
    assert (buyer.balance, buyer.held, buyer.available) == (100, Decimal("31.50"), Decimal("68.50"))
    assert (seller.incoming, seller.balance) == (Decimal("31.50"), Decimal("1000000.00"))
    assert settlement_of(trade) == {"status": "held", "amount": "31.50"}
    assert credits_total() == 0


def test_the_first_trade_of_a_station_seeded_in_bulk_opens_its_account(market):
    # bulk_create sends no signal, so such a station has no account until its first hold.
    (depot,) = Station.objects.bulk_create([StationFactory.build(code="pallas-depot")])
    give_stock(depot, market.water, 10)
    trade = trade_initiate(
        seller=depot, buyer=market.buyer, lines=[LineSpec(market.water, 2, Decimal("5.00"))]
    )
    opened = account(depot)
    assert (opened.balance, opened.incoming) == (0, Decimal("10.00"))
    assert account(market.buyer).held == Decimal("10.00")
    assert settlement_of(trade) == {"status": "held", "amount": "10.00"}


def test_a_buyer_short_of_credits_is_refused_and_nothing_is_written(market):
    trades, entries = Trade.objects.count(), Entry.objects.count()
    with pytest.raises(InsufficientCredits) as refused:
        buy(market, quantity=11, price="10.00")
    assert refused.value.detail == {
        "station": "vesta-yards",
        "needed": "110.00",
        "available": "100.00",
    }
    assert (Trade.objects.count(), Entry.objects.count()) == (trades, entries)
    assert StockLevel.objects.get(station=market.seller, commodity=market.water).on_hand == 10_000
    assert account(market.buyer).held == 0


def test_delivery_posts_the_transfer(market):
    trade = buy(market, quantity=4)
    shipment_update(shipment=trade.cargo, status="in_transit")
    shipment_update(shipment=trade.cargo, status="delivered")
    buyer, seller = account(market.buyer), account(market.seller)
    assert (buyer.balance, buyer.held) == (Decimal("60.00"), 0)
    assert (seller.balance, seller.incoming) == (Decimal("1000040.00"), 0)
    assert Transfer.objects.get(trade=trade).status == "posted"
    trade.refresh_from_db()
    assert settlement_of(trade) == {"status": "settled", "amount": "40.00"}


def test_cancellation_voids_the_transfer_and_releases_the_hold(market):
    trade = buy(market, quantity=4)
    trade_cancel(trade=trade)
    buyer, seller = account(market.buyer), account(market.seller)
    assert (buyer.balance, buyer.held, seller.incoming) == (100, 0, 0)
    assert settlement_of(Trade.objects.get(pk=trade.pk))["status"] == "released"


@pytest.mark.parametrize(("terms", "buyer_pays"), [("seller_risk", False), ("buyer_risk", True)])
def test_a_lost_shipment_follows_the_trades_terms(market, terms, buyer_pays):
    trade = buy(market, quantity=5, terms=terms)
    shipment_update(shipment=trade.cargo, status="in_transit")
    shipment_update(shipment=trade.cargo, status="lost")
    buyer, seller = account(market.buyer), account(market.seller)
    assert buyer.held == 0 and seller.incoming == 0
    assert buyer.balance == (Decimal("50.00") if buyer_pays else 100)
    assert seller.balance == Decimal("1000000.00") + (50 if buyer_pays else 0)


def test_a_transfer_resolves_exactly_once(market):
    trade = buy(market)
    trade_cancel(trade=trade)
    with pytest.raises(TransferFailed):
        settlement_resolve(trade=Trade.objects.get(pk=trade.pk))
    assert Entry.objects.filter(transfer__trade=trade).count() == 4  # two holds, two releases


def test_the_credit_limit_lets_a_buyer_go_below_zero_and_no_further(market):
    from credits.errors import CreditLimitInUse
    from credits.services import credits_set_limit

    credits_set_limit(station=market.buyer, credit_limit=Decimal("50.00"))
    trade = buy(market, quantity=15)  # 150 of 100 + 50
    with pytest.raises(InsufficientCredits):
        buy(market, quantity=1, price="0.01")
    with pytest.raises(CreditLimitInUse):
        credits_set_limit(station=market.buyer, credit_limit=Decimal("49.99"))
    shipment_update(shipment=trade.cargo, status="in_transit")
    shipment_update(shipment=trade.cargo, status="delivered")
    assert account(market.buyer).balance == Decimal("-50.00")


def test_the_largest_trade_the_api_accepts_settles_to_the_centicredit(market):
    from credits.services import credits_deposit
    from tests.factories import CommodityFactory, give_stock

    biggest = Decimal("999999999999.99")
    gold = CommodityFactory(code="gold")
    give_stock(market.seller, gold, 1_000_000_000)
    credits_deposit(station=market.buyer, amount=Decimal(10**21))
    trade = trade_initiate(
        seller=market.seller,
        buyer=market.buyer,
        lines=[LineSpec(gold, 1_000_000_000, biggest)],
    )
    shipment_update(shipment=trade.cargo, status="in_transit")
    shipment_update(shipment=trade.cargo, status="delivered")
    assert account(market.seller).balance == Decimal("1000000.00") + biggest * 1_000_000_000
    assert credits_total() == 0


def test_balances_as_of_a_moment_are_read_from_the_entries(market):
    before = balances_of(market.buyer)
    from django.utils import timezone

    moment = timezone.now()
    buy(market, quantity=1)
    then = balances_as_of(market.buyer, moment)
    assert (then.balance, then.held) == (before.balance, before.held) == (100, 0)
    assert balances_as_of(market.buyer, timezone.now()).held == Decimal("10.00")


def test_entries_are_append_only(market):
    buy(market)
    entry = Entry.objects.first()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        Entry.objects.filter(pk=entry.pk).update(memo="edited")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        Entry.objects.filter(pk=entry.pk).delete()


def test_the_database_refuses_credits_created_from_nothing(market):
    """The deferred zero-sum check, made to run now rather than at COMMIT."""
    with pytest.raises(IntegrityError, match="sum to"), transaction.atomic():
        Account.objects.filter(station=market.buyer).update(balance=Decimal("1000.00"))
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_a_trade_with_factories_defaults_is_paid_for(market):
    make_trade(market.seller, market.buyer, (market.water, 1))
    assert account(market.buyer).held == Decimal("10.00")
