"""Stored events: ids in one sequence, retention, and what a late client is told."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_eventstream import models as stored

from tests.factories import make_trade
from updates.log.relay import relay_pending
from updates.streams.hub import ReplayReset, current_id, events_after

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_trade_stores_its_events_in_one_gapless_sequence(stocked_ceres, vesta, water):
    relay_pending()
    before = current_id()
    trade = make_trade(stocked_ceres, vesta, (water, 2))
    relay_pending()
    events = events_after(before, limit=100)
    assert [e.id for e in events] == list(range(before + 1, before + 1 + len(events)))
    assert [e.type for e in events] == [
        "inventory.changed",
        "inventory.changed",
        "account.changed",
        "account.changed",
        "cargo.created",
        "trade.initiated",
    ]
    assert trade.transaction_id.encode() in events[-1].frame
    assert events[-1].stations == {"ceres-prime", "vesta-yards"}


def test_events_older_than_the_retention_are_trimmed_and_a_client_that_old_is_reset(
    stocked_ceres, vesta, water, settings
):
    from django.db import connection

    from updates.log.eventstream import trim

    make_trade(stocked_ceres, vesta, (water, 1))
    relay_pending()
    old_id = current_id()
    retention = settings.TRADENET_EVENT_RETENTION_MINUTES
    stored.Event.objects.filter(eid__lte=old_id).update(
        created=timezone.now() - timedelta(minutes=retention + 1)
    )
    make_trade(stocked_ceres, vesta, (water, 1))
    relay_pending()

    with connection.cursor() as cursor:
        trim(cursor)

    assert not stored.Event.objects.filter(eid__lte=old_id, eid__gt=0).exists()
    with pytest.raises(ReplayReset) as reset:
        events_after(old_id - 1, limit=100)
    assert reset.value.current_id == current_id()
    assert len(events_after(old_id + 1, limit=100)) == current_id() - old_id - 1


def test_more_missed_events_than_the_replay_limit_is_a_reset(stocked_ceres, vesta, water):
    relay_pending()
    start = current_id()
    for _ in range(3):
        make_trade(stocked_ceres, vesta, (water, 1))
    relay_pending()
    with pytest.raises(ReplayReset):
        events_after(start, limit=5)
    assert len(events_after(start, limit=20)) == 18  # six events a trade
