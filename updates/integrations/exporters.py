"""Exporters: the committed event log, carried to other systems at least once and in order.

The RabbitMQ feed (`AmqpExporter`, with TRADENET_AMQP_URL) publishes every event of the public
log to a durable topic exchange: persistent messages, publisher confirms, the JSON body the
stream carries, `message_id` = the stream's `id:`. Its routing key is the event type, then
the codes of the stations the event concerns, seller or origin first:
`trade.initiated.ceres-prime.sol-mars`, `inventory.changed.ceres-prime`; so `#.ceres-prime.#`
binds everything about ceres-prime and `cargo.#` every shipment event.

At least once, in order: the exporter reads the log after its position (`ExportPosition`, in
PostgreSQL), publishes, waits for the broker's confirmations, and only then advances the
position. After a crash of its process or an outage of the broker it resumes from there; what
it sends again carries the same `message_id`, so consumers drop duplicates by it. The relay
keeps events an exporter has not carried yet, however old (`eventstream.trim`).

The server's main process (`tradenet.serve`; every server process when served otherwise) runs
one per configured exporter (`updates.delivery`); one is active per deployment (a PostgreSQL
advisory lock of its own), the others stand by and take over when its process dies. The
client is aio-pika, on an event loop of the exporter's own thread: it publishes a batch in
order on one channel and waits for all the broker's confirmations at once (pika's blocking
channel waits for each confirmation before the next publish, which could not keep up with a
busy write path: 6 s behind in the benchmark).
"""

from __future__ import annotations

import logging
import zlib

from django.conf import settings

from core.dbconn import probe_connection
from updates.log import eventstream, notify
from updates.log.eventstream import LogEntry
from updates.log.singleton import SingletonWorker

logger = logging.getLogger(__name__)

BATCH = 500
RETRY_FIRST, RETRY_LAST = 0.5, 5.0


def routing_key(entry: LogEntry) -> str:
    """The event type, then the codes of the stations it concerns (seller or origin first)."""
    return ".".join([entry.type, *entry.stations])


def position(cursor, exporter: str) -> int:
    cursor.execute(
        "INSERT INTO updates_exportposition (exporter, last_id, updated_at) "
        "VALUES (%s, 0, now()) ON CONFLICT (exporter) DO NOTHING",
        [exporter],
    )
    cursor.execute("SELECT last_id FROM updates_exportposition WHERE exporter = %s", [exporter])
    return int(cursor.fetchone()[0])


def advance(cursor, exporter: str, last_id: int) -> None:
    cursor.execute(
        "UPDATE updates_exportposition SET last_id = %s, updated_at = now() "
        "WHERE exporter = %s AND last_id < %s",
        [last_id, exporter, last_id],
    )


def lag(cursor, exporter: str) -> tuple[int, float]:
    """(events not carried yet, age in seconds of the oldest of them)."""
    cursor.execute(
        "SELECT COALESCE((SELECT last_id FROM updates_exportposition WHERE exporter = %s), 0)",
        [exporter],
    )
    return eventstream.backlog(cursor, int(cursor.fetchone()[0]))


# Exporters' names: their positions' keys in updates_exportposition (never renamed).
FEED = "amqp"
WEBHOOKS = "webhooks"


def enabled_exporters() -> list[str]:
    """The exporters of this deployment: the webhooks' fan-out always, the feed when set."""
    return ([FEED] if settings.TRADENET_AMQP_URL else []) + [WEBHOOKS]


def exported_everywhere(cursor) -> int | None:
    """The last event every enabled exporter has carried: the relay keeps what comes after."""
    names = enabled_exporters()
    if not names:
        return None
    cursor.execute(
        "SELECT COALESCE(min(last_id), 0) FROM updates_exportposition WHERE exporter = ANY(%s)",
        [names],
    )
    return int(cursor.fetchone()[0])


def exports_lag() -> dict[str, dict[str, float]]:
    """Each configured exporter's lag, on a short connection of its own (for /readyz)."""
    with probe_connection() as conn, conn.cursor() as cursor:
        report = {}
        for name in enabled_exporters():
            events, seconds = lag(cursor, name)
            report[name] = {"lag_events": events, "lag_seconds": round(seconds, 3)}
        return report


def lag_figures(index: int):
    """For /metrics: {exporter: events behind} (index 0) or {exporter: seconds behind} (1)."""
    from django.db import connection

    def read() -> dict[str, float]:
        with connection.cursor() as cursor:
            return {name: lag(cursor, name)[index] for name in enabled_exporters()}

    return read


class Exporter(SingletonWorker):
    """One exporter's thread in one server process (active or standing by)."""

    name = ""

    def __init__(self):
        super().__init__()
        # Its own advisory lock: one active per deployment, whichever process holds it.
        self.lock_key = zlib.crc32(f"tradenet-export-{self.name}".encode())
        self.thread_name = f"{self.name} exporter"
        self.application_name = f"tradenet-export-{self.name}"

    def serve(self, conn) -> None:
        conn.execute(f"LISTEN {notify.CHANNEL}")  # the relay's: new events are in the log
        logger.info("%s exporter active in this process", self.name)
        delay = RETRY_FIRST
        with conn.cursor() as cursor:
            # Read once: while this thread holds the lock, it is the only one to move it.
            after = position(cursor, self.name)
        while not self.stopping.is_set():
            with conn.cursor() as cursor:
                entries = eventstream.read_batch(cursor, after, BATCH)
            if not entries:
                for _ in conn.notifies(timeout=settings.TRADENET_RELAY_POLL_SECONDS, stop_after=1):
                    pass
                continue
            if entries[0].id != after + 1 and after > 0:
                logger.error(
                    "%s exporter: events %s to %s are no longer stored; carrying on from %s",
                    self.name, after + 1, entries[0].id - 1, entries[0].id,
                )  # fmt: skip
            try:
                # Events for the servers only (a revocation) go to no other system.
                public = [entry for entry in entries if not entry.internal]
                if public:
                    self.send(public)
            except Exception as exc:
                logger.warning(
                    "%s exporter could not deliver (%s: %s); retrying in %.1f s from event %s",
                    self.name, exc.__class__.__name__, exc, delay, entries[0].id,
                )  # fmt: skip
                self.close()
                self.stopping.wait(delay)
                delay = min(delay * 2, RETRY_LAST)
                continue
            delay = RETRY_FIRST
            with conn.cursor() as cursor:
                advance(cursor, self.name, entries[-1].id)
            after = entries[-1].id

    def send(self, entries: list[LogEntry]) -> None:
        """Deliver `entries`, in order; return only when the other side has confirmed them all."""
        raise NotImplementedError

    def close(self) -> None:
        """Drop any connection to the other side (after a failure, or at the end)."""

    def disconnected(self) -> None:
        self.close()


class AmqpExporter(Exporter):
    name = FEED

    def __init__(self):
        super().__init__()
        self._loop = None
        self._connection = None
        self._exchange = None

    def send(self, entries: list[LogEntry]) -> None:
        import asyncio

        if self._loop is None:
            self._loop = asyncio.new_event_loop()  # this thread's own, not the streams'
        self._loop.run_until_complete(self._send(entries))

    async def _send(self, entries: list[LogEntry]) -> None:
        import asyncio

        import aio_pika

        if self._exchange is None:
            self._connection = await aio_pika.connect(settings.TRADENET_AMQP_URL, timeout=5)
            channel = await self._connection.channel(publisher_confirms=True)
            self._exchange = await channel.declare_exchange(
                settings.TRADENET_AMQP_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
            )
        messages = []
        for entry in entries:
            message = aio_pika.Message(
                entry.public_data.encode(),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=str(entry.id),
                type=entry.type,
                app_id="tradenet",
            )
            # Sent in order on one channel; each returns once the broker confirmed it.
            messages.append(self._exchange.publish(message, routing_key=routing_key(entry)))
        # One round trip of confirmations for the whole batch, not one per message.
        await asyncio.wait_for(asyncio.gather(*messages), timeout=30)

    def close(self) -> None:
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is not None and self._loop is not None:
            try:
                self._loop.run_until_complete(asyncio_wait(connection.close(), 5))
            except Exception:  # already broken: nothing to close cleanly
                logger.debug("closing the AMQP connection failed", exc_info=True)


async def asyncio_wait(awaitable, seconds: float):
    import asyncio

    return await asyncio.wait_for(awaitable, seconds)


def configured() -> list[SingletonWorker]:
    """The RabbitMQ feed, when TRADENET_AMQP_URL is set (updates.delivery lists them all)."""
    return [AmqpExporter()] if settings.TRADENET_AMQP_URL else []
