"""Numbering for Pushpin (updates/streams/sequence.py): a batch of the log that was stored but
never published (its relay died between the two, or the database went away during a failover)
goes out before the next one, in the log's order, with each channel's prev-id chain unbroken;
otherwise Pushpin's prev-id checks could not tell that its held streams had missed it."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from tests.factories import make_trade
from updates.log.relay import move_batch, relay_pending
from updates.streams import grip, sequence

pytestmark = pytest.mark.django_db(transaction=True)


def moved() -> list:
    """What the relay moves from the outbox into the log, committed, and no more."""
    with transaction.atomic(), connection.cursor() as cursor:
        return move_batch(cursor)


def sequenced(items: list[dict]) -> list[tuple[str, int, int]]:
    return [(i["channel"], int(i["id"]), int(i["prev-id"])) for i in items if "id" in i]


def chains_unbroken(items: list[dict], positions: dict[str, int]) -> bool:
    """Each channel's items follow one another, from where the channel stood."""
    last = dict(positions)
    for channel, event_id, prev_id in sequenced(items):
        if prev_id != last.get(channel, 0):
            return False
        last[channel] = event_id
    return True


def test_a_batch_never_published_goes_out_first_with_the_next(stocked_ceres, vesta, water):
    relay_pending()
    make_trade(stocked_ceres, vesta, (water, 1))
    published = sequence.number(moved(), grip.items_for)
    positions = {channel: event_id for channel, event_id, _ in sequenced(published)}
    make_trade(stocked_ceres, vesta, (water, 1))
    lost = moved()  # stored; the relay that moved it never numbered it
    make_trade(stocked_ceres, vesta, (water, 1))
    later = moved()

    items = sequence.number(later, grip.items_for)

    expected = [event_id for event_id, _ in grip.items_for(lost + later) if event_id]
    assert [event_id for _, event_id, _ in sequenced(items)] == expected
    assert {e.id for e in lost} <= set(expected)
    assert chains_unbroken(items, positions)
    high, _ = sequence.positions([])
    assert high == later[-1].id
    assert sequence.number(later, grip.items_for) == []  # numbered once only


def test_a_relay_that_becomes_active_publishes_what_its_predecessor_left(
    stocked_ceres, vesta, water
):
    relay_pending()
    make_trade(stocked_ceres, vesta, (water, 1))
    sequence.number(moved(), grip.items_for)
    make_trade(stocked_ceres, vesta, (water, 1))
    left = moved()

    items = sequence.number([], grip.items_for)  # what catch_up_publishers asks

    assert [i for _, i, _ in sequenced(items)] == [
        event_id for event_id, _ in grip.items_for(left) if event_id
    ]
    assert sequence.number([], grip.items_for) == []
