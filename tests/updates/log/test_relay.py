"""The relay: committed outbox rows become the public stream, in an order readers can trust."""

from __future__ import annotations

import json
import threading
from collections import defaultdict

import pytest
from django.db import connection

from core.models import OutboxEvent
from inventory.errors import InsufficientStock
from tests.factories import CommodityFactory, StationFactory, give_stock, make_trade
from trades.models import Trade
from updates.log.relay import relay_pending
from updates.streams.hub import ReplayReset, current_id, events_after

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS = 6
TRADES_EACH = 12


def test_concurrent_writers_get_gapless_ids_and_a_reader_never_skips_one():
    water = CommodityFactory(code="water")
    stations = [StationFactory(code=f"st-{n}") for n in range(WRITERS + 1)]
    for station in stations:
        give_stock(station, water, 10_000)
    relay_pending()
    start = current_id()

    writing = threading.Event()
    writing.set()
    read: list = []
    errors: list = []

    def writer(number: int) -> None:
        try:
            for _ in range(TRADES_EACH):
                make_trade(stations[number], stations[number + 1], (water, 1))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    def relay() -> None:
        try:
            while writing.is_set() or OutboxEvent.objects.exists():
                relay_pending(limit=7)  # small batches: many interleavings with the writers
        finally:
            connection.close()

    def reader() -> None:
        # A client polling `id > last`, as a reconnecting stream does.
        last = start
        try:
            # The outbox before the counter: once the outbox is seen empty, the counter read
            # after it includes every move.
            while writing.is_set() or OutboxEvent.objects.exists() or last < current_id():
                try:
                    batch = events_after(last, 100_000)
                except ReplayReset as reset:  # pragma: no cover - reported below
                    errors.append(reset)
                    return
                read.extend(batch)
                if batch:
                    last = batch[-1].id
        finally:
            connection.close()

    writers = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    others = [threading.Thread(target=relay), threading.Thread(target=reader)]
    for thread in writers + others:
        thread.start()
    for thread in writers:
        thread.join(120)
    writing.clear()
    for thread in others:
        thread.join(120)
    assert not errors

    # Every committed event, once, with ids that run without a gap, read in that order.
    assert not OutboxEvent.objects.exists()
    stored = events_after(start, 100_000)
    assert [e.id for e in stored] == list(range(start + 1, start + 1 + len(stored)))
    assert [e.id for e in read] == [e.id for e in stored]
    assert len(stored) == 6 * WRITERS * TRADES_EACH  # stock, credits, shipment, trade

    # Each trade's events are in the order its operation announced them.
    per_trade: dict[str, list[str]] = defaultdict(list)
    for event in stored:
        payload = json.loads(event.frame.decode().split("data: ", 1)[1])
        if event.type in ("inventory.changed", "account.changed"):
            continue
        per_trade[payload["transaction_id"]].append(event.type)
    assert set(per_trade) == set(Trade.objects.values_list("transaction_id", flat=True))
    assert all(types == ["cargo.created", "trade.initiated"] for types in per_trade.values())


def test_a_rolled_back_operation_leaves_nothing_for_the_relay(stocked_ceres, vesta, water):
    relay_pending()
    before = current_id()
    with pytest.raises(InsufficientStock):
        make_trade(stocked_ceres, vesta, (water, 10**6))
    assert relay_pending() == []
    assert current_id() == before
