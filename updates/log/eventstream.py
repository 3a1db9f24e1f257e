"""The one module that touches django-eventstream's internals.

django-eventstream is the public event log (its model storage: ids, replay, retention) and the
transport between processes (its Redis pub/sub, or its in-process listener manager). Its public
API covers reading (`get_storage().get_events`, `get_current_id`); what it has no public API
for lives here, and only here:

- moving committed outbox rows into its event table in one statement, numbered from its counter
  (the relay's job; upstream appends one event at a time in about five queries);
- its module constants for retention and listener queue size;
- handing stored events to its listener manager (in-process) or its Redis channel;
- reading its Redis channel (`redis_feed` owns the subscription, since upstream's subscriber
  task dies with its connection and is never started again);
- registering and draining the per-process listener that feeds the hub.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

from django.conf import settings
from django.utils import timezone
from django_eventstream import eventstream as upstream
from django_eventstream import storage as upstream_storage
from django_eventstream import views as upstream_views
from django_eventstream.event import Event
from django_eventstream.storage import EventDoesNotExist
from django_eventstream.utils import get_storage

from core.events import internal_types

logger = logging.getLogger(__name__)

# One channel, so that every event has its place in one global sequence of ids.
CHANNEL = "all"
# django-eventstream's Redis pub/sub channel (fixed upstream).
REDIS_CHANNEL = "events_channel"

__all__ = ["CHANNEL", "EventDoesNotExist", "LogEntry"]


def configure() -> None:
    """Apply our settings to upstream's module constants (called once, from AppConfig.ready)."""
    upstream_storage.EVENT_TIMEOUT = settings.TRADENET_EVENT_RETENTION_MINUTES
    # Upstream queues at most 10 events per listener between wake-ups and then drops them; our
    # single pump listener drains fast, so give it room for bursts.
    upstream_views.MAX_PENDING = 10_000
    # Upstream starts one Redis subscriber task per process, which ends for good when its
    # connection drops (a Redis restart silenced every stream until the workers restarted).
    # `updates.streams.redis_feed` subscribes instead and reconnects.
    upstream_views.get_listener_manager().redis_listener = None


@dataclass(frozen=True)
class LogEntry:
    """An event of the public log: its id, type and data (the envelope's JSON text, as
    upstream's get_events and listeners hand it over). The envelope is parsed here and only
    here, once per entry, for every consumer (streams, Pushpin, the feed, webhooks)."""

    id: int
    type: str
    data: str

    @cached_property
    def envelope(self) -> dict:
        return json.loads(self.data)

    @property
    def stations(self) -> tuple[str, ...]:
        """The codes of the stations the event concerns, seller or origin first."""
        return tuple(self.envelope.get("stations") or ())

    @property
    def shipment_id(self) -> str | None:
        return self.envelope.get("shipment_id")

    @property
    def internal(self) -> bool:
        """For the servers only (core.events.internal_types): no client or system receives it."""
        return self.type in internal_types()

    @cached_property
    def public_data(self) -> str:
        """The event's JSON as every consumer gets it (the stream's `data:`, the RabbitMQ
        body, a webhook's body): its payload and when it was published."""
        envelope = self.envelope
        payload = {**envelope["payload"], "published_at": envelope["published_at"]}
        return json.dumps(payload, separators=(",", ":"))


# Moves up to %(limit)s committed outbox rows into the event log, oldest outbox id first,
# numbering them from the counter. The counter row is locked by this statement until its
# transaction commits, so ids are assigned by one transaction at a time and become visible in
# the order they were assigned: a reader of `id > last` never skips one.
MOVE_OUTBOX = """
WITH moved AS (
    DELETE FROM tradenet_outbox
    WHERE id IN (SELECT id FROM tradenet_outbox ORDER BY id LIMIT %(limit)s FOR UPDATE)
    RETURNING id, type, data
), numbered AS (
    SELECT type, data, row_number() OVER (ORDER BY id) AS n FROM moved
), counter AS (
    INSERT INTO django_eventstream_eventcounter (name, value, updated)
    VALUES (%(channel)s, (SELECT count(*) FROM moved), now())
    ON CONFLICT (name) DO UPDATE
        SET value = django_eventstream_eventcounter.value + EXCLUDED.value, updated = now()
    RETURNING value - (SELECT count(*) FROM moved) AS base
)
INSERT INTO django_eventstream_event (channel, type, data, eid, created)
SELECT %(channel)s, numbered.type, numbered.data, counter.base + numbered.n, now()
FROM numbered, counter
RETURNING eid, type, data
"""

# Upstream keeps an event 0 so that a client resuming from 0 can be answered.
ZERO_EVENT = """
INSERT INTO django_eventstream_event (channel, type, data, eid, created)
VALUES (%(channel)s, '', '', 0, now())
ON CONFLICT (channel, eid) DO NOTHING
"""

PENDING_IN_OUTBOX = "SELECT EXISTS (SELECT 1 FROM tradenet_outbox)"


def move_outbox(cursor, limit: int) -> list[LogEntry]:
    """Run inside a transaction: move committed outbox rows into the log; return them by id."""
    cursor.execute(MOVE_OUTBOX, {"channel": CHANNEL, "limit": limit})
    entries = [_from_row(row) for row in sorted(cursor.fetchall())]
    if entries and entries[0].id == 1:
        cursor.execute(ZERO_EVENT, {"channel": CHANNEL})
    return entries


def trim(cursor, keep_after: int | None = None) -> None:
    """Delete events older than the retention (upstream trims on every append), but none after
    `keep_after`: what an exporter has not carried yet stays, however old."""
    cursor.execute(
        "DELETE FROM django_eventstream_event WHERE created < %s AND eid <= %s",
        [
            timezone.now() - timedelta(minutes=upstream_storage.EVENT_TIMEOUT),
            keep_after if keep_after is not None else 2**62,
        ],
    )


def read_batch(cursor, after: int, limit: int) -> list[LogEntry]:
    """Stored events after `after`, oldest first, on a connection of the caller's own."""
    cursor.execute(
        "SELECT eid, type, data FROM django_eventstream_event WHERE channel = %s AND eid > %s "
        "ORDER BY eid LIMIT %s",
        [CHANNEL, after, limit],
    )
    return [_from_row(row) for row in cursor.fetchall()]


def latest(cursor) -> LogEntry | None:
    cursor.execute(
        "SELECT eid, type, data FROM django_eventstream_event WHERE channel = %s AND eid > 0 "
        "ORDER BY eid DESC LIMIT 1",
        [CHANNEL],
    )
    row = cursor.fetchone()
    return _from_row(row) if row else None


def _from_row(row) -> LogEntry:
    eid, event_type, stored = row
    # Stored as upstream stores data: JSON text of the (JSON text) data.
    return LogEntry(int(eid), event_type, json.loads(stored))


class LogStorage(upstream_storage.DjangoModelStorage):
    """django-eventstream's model storage, read as upstream reads it. Events are appended only by
    the relay (`move_outbox`), which also trims old ones (`trim`)."""

    def append_event(self, channel, event_type, data):
        raise NotImplementedError(
            "Events enter the log through the outbox: announce them with core.events."
        )


def current_id() -> int:
    return int(get_storage().get_current_id(CHANNEL))


def read_after(last_id: int, limit: int) -> list[LogEntry]:
    """Stored events after `last_id`, oldest first (EventDoesNotExist if `last_id` is gone)."""
    events = get_storage().get_events(CHANNEL, last_id, limit=limit)
    return [LogEntry(int(e.id), e.type, _as_text(e.data)) for e in events]


def _as_text(data) -> str:
    # get_events decodes the stored text once, giving back the JSON text we stored.
    return data if isinstance(data, str) else json.dumps(data)


def entry_from_upstream(event) -> LogEntry:
    """A LogEntry from an upstream Event (as the listener manager or Redis hands it over)."""
    return LogEntry(int(event.id), event.type, _as_text(event.data))


# Transport


def redis_enabled() -> bool:
    return upstream.redis_client is not None


def publish_to_redis(entries: list[LogEntry]) -> None:
    """Hand stored events to every process through upstream's Redis channel (one round trip)."""
    with upstream.redis_client.pipeline(transaction=False) as pipe:
        for entry in entries:
            message = {
                "channel": CHANNEL,
                "event_type": entry.type,
                "data": entry.data,
                "pub_id": str(entry.id),
            }
            pipe.publish(REDIS_CHANNEL, json.dumps(message))
        pipe.execute()


def entry_from_redis(message: bytes | str) -> LogEntry:
    """A LogEntry from a message on upstream's Redis channel (as `publish_to_redis` sends it)."""
    fields = json.loads(message)
    return LogEntry(int(fields["pub_id"]), fields["event_type"], _as_text(fields["data"]))


def queue_in_process(entries: list[LogEntry]) -> None:
    """Hand stored events to this process's listeners (the hub)."""
    manager = upstream_views.get_listener_manager()
    for entry in entries:
        manager.add_to_queues(CHANNEL, Event(CHANNEL, entry.type, entry.data, id=entry.id))


class Listener:
    """The per-process listener registered with upstream's listener manager (and so with its
    Redis subscriber, when Redis is configured). Must be created on the event loop."""

    def __init__(self):
        self._upstream = upstream_views.Listener()
        self._upstream.channels = {CHANNEL}
        self._upstream.assign_loop()
        self._manager = upstream_views.get_listener_manager()
        self._manager.add_listener(self._upstream)

    async def wait(self) -> None:
        await self._upstream.aevent.wait()

    def take(self) -> tuple[list, bool]:
        """The events queued since the last call, and whether upstream dropped any."""
        with self._manager.lock:
            items = self._upstream.channel_items.get(CHANNEL, [])
            overflow = self._upstream.overflow
            self._upstream.channel_items = {}
            self._upstream.overflow = False
            self._upstream.aevent.clear()
        return items, overflow

    def close(self) -> None:
        self._manager.remove_listener(self._upstream)


def backlog(cursor, after: int) -> tuple[int, float]:
    """(events after `after`, age in seconds of the oldest of them): an exporter's lag."""
    cursor.execute(
        "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created)), 0) "
        "FROM django_eventstream_event WHERE channel = %s AND eid > %s",
        [CHANNEL, after],
    )
    count, seconds = cursor.fetchone()
    return int(count), float(seconds)
