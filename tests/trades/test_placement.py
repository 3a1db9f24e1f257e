"""Placing a trade runs its stages in the order trades.placement states (the stock, the credits,
the shipment), whatever order the apps connected them in."""

from __future__ import annotations

from itertools import groupby

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cargo.models import Cargo
from cargo.receivers import create_shipment_for_placed_trade
from inventory.models import StockLevel
from tests.factories import make_trade
from trades import placement
from trades.placement import Stage

pytestmark = pytest.mark.django_db

# Every stage's receiver as the apps connect it (trades/apps.py, cargo/apps.py).
CONNECTED = [
    (
        Stage.STOCK,
        placement.dispatch_stock_for_placed_trade,
        "trades.placement.dispatch_stock_for_placed_trade",
    ),
    (
        Stage.CREDITS,
        placement.hold_credits_for_placed_trade,
        "trades.placement.hold_credits_for_placed_trade",
    ),
    (Stage.SHIPMENT, create_shipment_for_placed_trade, "cargo.create_shipment_for_placed_trade"),
]

# What each stage's work looks like on the wire, in the order the stages must run: the locks
# first (stock rows, then accounts, then the agreement, as every path takes them).
WORK = [
    ("stock locked", f"FROM {StockLevel._meta.db_table}", "FOR UPDATE"),
    ("accounts locked", "FROM credits_account", "FOR UPDATE"),
    ("agreement taken", "UPDATE trades_agreement SET outstanding = outstanding +", ""),
    ("shipment written", f"INSERT INTO {Cargo._meta.db_table}", ""),
]


def work_in_order(sql: list[str]) -> list[str]:
    """The work seen, in order, a repeat in a row counted once (stock rows new to the buyer
    are created, then locked again)."""
    seen = [
        name
        for statement in sql
        for name, start, then in WORK
        if start in statement and then in statement
    ]
    return [name for name, _ in groupby(seen)]


def place_under_agreement(seller, buyer, commodity, actor) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        make_trade(seller, buyer, (commodity, 3), actor=actor)
    return [query["sql"] for query in queries]


@pytest.fixture
def reconnected_in_reverse():
    """The stages' receivers connected again, the last stage first."""
    for stage, _, dispatch_uid in CONNECTED:
        assert placement.disconnect(stage=stage, dispatch_uid=dispatch_uid)
    try:
        for stage, receiver, dispatch_uid in reversed(CONNECTED):
            placement.connect(receiver, stage=stage, dispatch_uid=dispatch_uid)
        yield
    finally:
        for stage, receiver, dispatch_uid in CONNECTED:
            placement.disconnect(stage=stage, dispatch_uid=dispatch_uid)
            placement.connect(receiver, stage=stage, dispatch_uid=dispatch_uid)


def test_placing_locks_stock_then_accounts_then_agreement_then_writes_the_shipment(
    stocked_ceres, vesta, water, ceres_op, vesta_grants_ceres
):
    sql = place_under_agreement(stocked_ceres, vesta, water, ceres_op)
    assert work_in_order(sql) == [name for name, _, _ in WORK]


def test_the_order_holds_whatever_order_the_receivers_were_connected_in(
    stocked_ceres, vesta, water, ceres_op, vesta_grants_ceres, reconnected_in_reverse
):
    sql = place_under_agreement(stocked_ceres, vesta, water, ceres_op)
    assert work_in_order(sql) == [name for name, _, _ in WORK]


def test_receivers_run_by_stage_not_by_connection(stocked_ceres, vesta, water):
    ran = []

    def spy(stage):
        def receiver(sender, trade, say, **kwargs):
            ran.append(stage)

        return receiver

    spies = {stage: spy(stage) for stage in Stage}  # held here: signals keep weak references
    for stage in reversed(Stage):
        placement.connect(spies[stage], stage=stage, dispatch_uid=f"test.spy.{stage.name}")
    try:
        trade = make_trade(stocked_ceres, vesta, (water, 1))
    finally:
        for stage in Stage:
            placement.disconnect(stage=stage, dispatch_uid=f"test.spy.{stage.name}")
    assert ran == [Stage.STOCK, Stage.CREDITS, Stage.SHIPMENT]
    assert trade.cargo.pk is not None
