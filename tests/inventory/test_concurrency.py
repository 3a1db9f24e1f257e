"""Many trades and shipment updates at once, in real threads against PostgreSQL."""

from __future__ import annotations

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.db.models import Sum

from cargo.models import Cargo
from cargo.services import shipment_update
from core.errors import InvalidTransition
from inventory.errors import InsufficientStock
from inventory.models import StockLevel, StockMovement
from tests.factories import CommodityFactory, StationFactory, give_stock, make_trade
from tests.helpers import assert_ledger_matches_levels

pytestmark = pytest.mark.django_db(transaction=True)


def run_at_once(jobs, workers: int):
    """Start every job together (a barrier), each in its own thread and DB connection."""
    barrier = threading.Barrier(len(jobs))

    def run(job):
        try:
            barrier.wait(timeout=30)
            return job()
        except Exception as exc:  # returned, not raised: the test counts outcomes
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(run, jobs))
    connections.close_all()
    return results


def conserved_total(commodity) -> int:
    levels = StockLevel.objects.filter(commodity=commodity).aggregate(
        on_hand=Sum("on_hand"), incoming=Sum("incoming")
    )
    written_off = -(
        StockMovement.objects.filter(commodity=commodity, kind="write_off").aggregate(
            total=Sum("delta")
        )["total"]
        or 0
    )
    return levels["on_hand"] + levels["incoming"] + written_off


def test_concurrent_trades_never_oversell_or_deadlock():
    seller = StationFactory(code="ceres-prime")
    buyers = [StationFactory() for _ in range(4)]
    water, ore = CommodityFactory(code="water"), CommodityFactory(code="iron-ore")
    give_stock(seller, water, 30)
    give_stock(seller, ore, 30)
    # A buyer that also sells back, so locks are taken on both sides of a pair at once.
    give_stock(buyers[0], water, 10)

    def buy(i):
        # Lines in both orders: a naive lock order would deadlock here.
        lines = [(water, 2), (ore, 2)] if i % 2 else [(ore, 2), (water, 2)]
        return lambda: make_trade(seller, buyers[i % 4], *lines)

    def sell_back():
        return make_trade(buyers[0], seller, (water, 1))

    jobs = [buy(i) for i in range(24)] + [sell_back] * 4
    results = run_at_once(jobs, workers=28)

    outcomes = Counter(type(r).__name__ for r in results[:24])
    assert outcomes == {"Trade": 15, "InsufficientStock": 9}, outcomes
    assert all(type(r).__name__ == "Trade" for r in results[24:]), results[24:]
    assert StockLevel.objects.get(station=seller, commodity=ore).on_hand == 0
    # 30 - 15*2 sold; the 4 bought back from buyers[0] are still in transit.
    seller_water = StockLevel.objects.get(station=seller, commodity=water)
    assert (seller_water.on_hand, seller_water.incoming) == (0, 4)
    assert conserved_total(water) == 40
    assert conserved_total(ore) == 30
    assert Cargo.objects.count() == 19
    assert_ledger_matches_levels()


def test_concurrent_shipment_updates_apply_exactly_one_transition_each():
    seller, buyer = StationFactory(), StationFactory()
    water = CommodityFactory(code="water")
    give_stock(seller, water, 100)
    shipments = [make_trade(seller, buyer, (water, 5)).cargo for _ in range(10)]
    for shipment in shipments[:5]:
        shipment_update(shipment=shipment, status="in_transit")

    rng = random.Random(4)
    jobs = []
    for shipment in shipments:
        # Two competing updates per shipment: each pair has exactly one legal winner.
        if shipment.status == "in_transit":
            pair = ["delivered", "lost"]
        else:
            pair = ["cancelled", "in_transit"]
        rng.shuffle(pair)
        for status in pair:
            jobs.append(
                lambda s=shipment, st=status: shipment_update(
                    shipment=Cargo.objects.get(pk=s.pk), status=st
                )
            )
    results = run_at_once(jobs, workers=len(jobs))

    failures = [r for r in results if isinstance(r, Exception)]
    assert all(isinstance(f, InvalidTransition) for f in failures), failures
    assert len(failures) == 10
    for shipment in shipments:
        # created, (departed,) and the one winner of the race
        expected = 3 if shipment.status == "in_transit" else 2
        assert shipment.tracking_events.count() == expected
    assert conserved_total(water) == 100
    assert_ledger_matches_levels()


def test_insufficient_stock_error_reports_what_was_left(ceres, vesta, water):
    give_stock(ceres, water, 3)
    results = run_at_once([lambda: make_trade(ceres, vesta, (water, 2))] * 2, workers=2)
    loser = next(r for r in results if isinstance(r, InsufficientStock))
    assert loser.detail["requested"] == 2
    assert loser.detail["available"] == 1
