"""The relay: committed outbox rows become the public event stream.

Domain code writes events to the outbox inside its own transaction (`core.events`). The
relay moves committed rows, oldest outbox id first, into the public event log
(django-eventstream's storage) and numbers them there, and in the same transaction sends
NOTIFY tradenet_events, on which every server process's hub listens and reads what it has not
seen from storage. After the commit it hands the events themselves to this process's hub (or,
with Redis, to every process's hub through Redis, which spares them the read) and to Pushpin.

Order. Public ids are assigned by the relay, one transaction at a time, under a lock on the
event counter row: an event gets its id when the relay moves it, and a transaction that commits
late simply has its events numbered later. So ids are gapless, become visible in the order they
are assigned, and a reader of `id > last` never skips an event. Within one business operation,
events keep the order they were announced in; an operation that committed before another began
gets the smaller ids (outbox ids come from a sequence and the relay reads them in order).

One relay is active per deployment: every server process runs one, and the one that holds the
PostgreSQL advisory lock RELAY_LOCK works while the others stand by, trying for the lock every
TRADENET_RELAY_STANDBY_SECONDS. The lock belongs to the active relay's connection, so when its
process dies, PostgreSQL releases it and a standby takes over; nothing is lost meanwhile, since
the events wait in the outbox. It wakes on the NOTIFY a writer's process sends after its commit
(core/wakeups.py: never inside the writer's transaction, where it would make every commit wait
for every other), and polls every TRADENET_RELAY_POLL_SECONDS in case one was missed.

Durability. Moving rows and telling other processes (NOTIFY) is one transaction.
If the process dies after that commit but before Redis or Pushpin heard of the events, the
relay that takes over announces the latest stored event again, and every hub reads what it
missed from storage; a Redis outage is handled the same way once Redis answers again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import connection, transaction

from core.events import OUTBOX_CHANNEL
from updates.log import eventstream, notify
from updates.log.eventstream import LogEntry
from updates.log.singleton import SingletonWorker

logger = logging.getLogger(__name__)

# Who else hears of each delivered batch (Pushpin), and up to where the exporters have carried
# the log (the relay trims nothing after it): registered by the packages above the log in
# `updates.apps` (UpdatesConfig.ready), so that the log imports none of them.
PUBLISHERS: list[Callable[[list[LogEntry]], None]] = []
KEEP_AFTER: list[Callable[[object], int | None]] = []

# pg_try_advisory_lock key held by the active relay ("TRDN").
RELAY_LOCK = 0x5452444E
BATCH = 1000
TRIM_EVERY_BATCHES = 500


def move_batch(cursor, limit: int = BATCH) -> list[LogEntry]:
    """Inside a transaction: move committed outbox rows to the log and tell every process at
    commit (NOTIFY). Returns the moved events in id order."""
    entries = eventstream.move_outbox(cursor, limit)
    if entries:
        cursor.execute("SELECT pg_notify(%s, %s)", [notify.CHANNEL, str(entries[-1].id)])
    return entries


def deliver(entries: list[LogEntry]) -> None:
    """Hand stored events to the transports. Raises if Redis is unreachable."""
    if not entries:
        return
    from trades.metrics import count_trades

    count_trades(entries)
    for publish in PUBLISHERS:
        try:
            publish(entries)
        except Exception:  # Pushpin down: its clients resume from storage on reconnect
            logger.exception("publishing %d events (%s) failed", len(entries), publish.__name__)
    if eventstream.redis_enabled():
        eventstream.publish_to_redis(entries)
    else:
        eventstream.queue_in_process(entries)


def catch_up_publishers() -> None:
    """Let each publisher send what a previous relay stored but did not publish (it died
    between the two, or its database went away): a relay that becomes active calls this, and
    a publisher given no entries publishes what it is behind by (grip_publish)."""
    for publish in PUBLISHERS:
        try:
            publish([])
        except Exception:
            logger.exception("catching up %s failed; the next batch tries again", publish.__name__)


def exported_everywhere(cursor) -> int | None:
    """The last event every exporter has carried (None: no exporter): the relay trims nothing
    after it."""
    positions = [p for p in (keep(cursor) for keep in KEEP_AFTER) if p is not None]
    return min(positions) if positions else None


def relay_pending(limit: int = BATCH) -> list[LogEntry]:
    """Move and deliver everything committed in the outbox now, on Django's connection.

    For tests and commands; servers run the Relay thread instead. Safe beside a running relay:
    the counter row lock serialises id assignment.
    """
    moved: list[LogEntry] = []
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            entries = move_batch(cursor, limit)
        if not entries:
            return moved
        deliver(entries)
        moved += entries


class Relay(SingletonWorker):
    """The relay thread of one server process (active or standing by)."""

    lock_key = RELAY_LOCK
    thread_name = "outbox-relay"
    application_name = "tradenet-relay"

    def __init__(self):
        super().__init__()
        self._transport_behind = False
        self._batches = 0

    def serve(self, conn) -> None:
        conn.execute(f"LISTEN {OUTBOX_CHANNEL}")
        logger.info("outbox relay active in this process")
        self._announce_latest(conn)
        catch_up_publishers()
        poll = settings.TRADENET_RELAY_POLL_SECONDS
        while not self.stopping.is_set():
            with conn.transaction(), conn.cursor() as cursor:
                entries = move_batch(cursor)
                self._batches += 1
                if self._batches % TRIM_EVERY_BATCHES == 0:
                    eventstream.trim(cursor, keep_after=exported_everywhere(cursor))
            self._deliver(entries, conn)
            if len(entries) == BATCH:
                continue  # more are waiting
            # Sleep until a writer commits (its NOTIFY), or poll anyway after a while.
            for _ in conn.notifies(timeout=poll, stop_after=1):
                pass

    def _deliver(self, entries: list[LogEntry], conn) -> None:
        try:
            if self._transport_behind and not entries:
                self._announce_latest(conn)
                return
            deliver(entries)
            self._transport_behind = False
        except Exception as exc:
            # Stored, not yet announced (Redis down): hubs read them from storage once the
            # latest event is announced again.
            if not self._transport_behind:
                logger.warning("event transport failed (%s); will announce again", exc)
            self._transport_behind = True

    def _announce_latest(self, conn) -> None:
        """Tell every hub where the log stands: whatever a previous relay stored but did not
        announce (it died, or Redis was down) is then read from storage."""
        with conn.cursor() as cursor:
            last = eventstream.latest(cursor)
            if last is None:
                return
            cursor.execute("SELECT pg_notify(%s, %s)", [notify.CHANNEL, str(last.id)])
        try:
            if eventstream.redis_enabled():
                eventstream.publish_to_redis([last])
            else:
                eventstream.queue_in_process([last])
            self._transport_behind = False
        except Exception:
            self._transport_behind = True


relay = Relay()
