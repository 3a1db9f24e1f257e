"""Pushpin's reliable streams: no event lost to a client subscribing while events are published.

A stream through Pushpin is answered once (the replay and a hold); Pushpin subscribes it to
its channels when that answer arrives. Whatever was published in between used to be lost. Now
every published item carries `id` (the event's) and `prev-id` (the last event published on
that channel), the hold names for each channel the `prev-id` it follows, and gives a next
link (`Grip-Link: <...>; rel=next`). Pushpin (src/handler/httpsession.cpp) compares: if a
hold's prev-id is not the last id it saw published on the channel, or a published item does
not follow what the stream last got, it requests the next link, which answers with the events
missed and a new hold. So a client gets every event of its scope once, in order.

The sequence per channel is kept in PostgreSQL (`PushpinChannel`), written by the one active
relay in the log's order before it publishes; the high-water row (HIGH_WATER) is the last event
of the log numbered (published, or with nothing to publish), and what a hold replays up to.
Revocation channels are not sequenced (a close is not an event). A recovery replays its
stream's scope from where its hold left it (`recovered_events`). A batch that could not be
numbered is published with the next one (`number`).
"""

from __future__ import annotations

from django.db import transaction

from updates.log import eventstream
from updates.log.eventstream import EventDoesNotExist
from updates.streams.hub import ReplayReset, StoredEvent, current_id
from updates.streams.models import PushpinChannel

HIGH_WATER = "*"


# At most this many events of the log are published again in one batch after a batch whose
# numbering failed; a longer gap is left to the streams' reconnections (they resume from the log).
CATCH_UP_LIMIT = 10_000


def number(entries: list[eventstream.LogEntry], items_for) -> list[dict]:
    """The GRIP items of a batch of the log (`items_for(entries)`), each with its id and
    prev-id, in order, with the channels' new positions recorded; items without an event id
    (closes) pass as they are. The high-water mark is the last event of the log numbered.

    A batch whose numbering failed (the database away: a failover) was published to no
    Pushpin, and the channels' positions did not move, so no prev-id check could tell its
    events were missing: streams held by Pushpin would lose them unseen. So a batch that does
    not follow the mark starts with the events between, read from the log (and a call with no
    entries publishes whatever the log holds past the mark). Events at or below the mark were
    numbered already and are left out."""
    with transaction.atomic():
        high = (
            PushpinChannel.objects.select_for_update()
            .filter(name=HIGH_WATER)
            .values_list("last_event_id", flat=True)
            .first()
        ) or 0
        first = entries[0].id if entries else None
        if high and (first is None or first > high + 1):
            try:
                missed = eventstream.read_after(high, CATCH_UP_LIMIT)
            except EventDoesNotExist:  # trimmed since: those streams are reset on reconnecting
                missed = []
            entries = [e for e in missed if first is None or e.id < first] + list(entries)
        entries = [entry for entry in entries if entry.id > high]
        if not entries:
            return []
        pairs = items_for(entries)
        sequenced = {item["channel"] for event_id, item in pairs if event_id is not None}
        known = dict(
            PushpinChannel.objects.select_for_update()
            .filter(name__in=sequenced)
            .values_list("name", "last_event_id")
        )
        items, moved = [], {}
        for event_id, item in pairs:
            if event_id is not None:
                channel = item["channel"]
                item["id"] = str(event_id)
                item["prev-id"] = str(moved.get(channel, known.get(channel, 0)))
                moved[channel] = event_id
            items.append(item)
        moved[HIGH_WATER] = entries[-1].id
        PushpinChannel.objects.bulk_create(
            [PushpinChannel(name=name, last_event_id=last) for name, last in moved.items()],
            update_conflicts=True,
            unique_fields=["name"],
            update_fields=["last_event_id"],
        )
    return items


def positions(channels: list[str]) -> tuple[int, dict[str, int]]:
    """The high-water mark and each channel's last published event, read together (one
    statement, one snapshot): a hold replays up to the mark and follows these ids."""
    rows = dict(
        PushpinChannel.objects.filter(name__in=[HIGH_WATER, *channels]).values_list(
            "name", "last_event_id"
        )
    )
    return rows.pop(HIGH_WATER, 0), {channel: rows.get(channel, 0) for channel in channels}


def recovered_events(scope, last_id: int, up_to: int, limit: int, pages: int):
    """The stored events after `last_id` up to `up_to` that `scope` may receive, read from the
    log `limit` at a time for at most `pages` reads; ReplayReset if that does not reach `up_to`
    or the scope's own events exceed `limit`.

    For Pushpin's recoveries: it asks again for every stream of a channel it has just
    subscribed, at most 10 streams a second (its update limiter), so a recovery can come
    seconds after its hold. A station's stream then missed a handful of
    events among thousands of the log's; counting the log's, as a client's own replay does,
    answered stream-reset to nearly every one of them under load.
    """
    kept: list[StoredEvent] = []
    for _ in range(pages):
        if last_id >= up_to:
            return kept
        try:
            entries = eventstream.read_after(last_id, limit)
        except EventDoesNotExist as exc:
            raise ReplayReset(int(exc.current_id)) from None
        if not entries:
            return kept
        for entry in entries:
            if entry.id > up_to:
                return kept
            event = StoredEvent.from_entry(entry)
            if event.frame and scope.allows(event.stations, event.shipment_id):
                kept.append(event)
        if len(kept) > limit:
            raise ReplayReset(current_id())
        last_id = entries[-1].id
    if last_id < up_to:
        raise ReplayReset(current_id())
    return kept
