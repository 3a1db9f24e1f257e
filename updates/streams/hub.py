"""Per-process fan-out of stored events to the connected streams.

django-eventstream stores every event (one channel, "all", so ids are one global sequence) and
carries it to every process: in-process, or through Redis with REDIS_URL. Each process
registers a single django-eventstream listener; its pump hands each event, encoded once, to the
streams whose scope allows it. A stream that falls behind is replayed from storage.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field

from django.conf import settings

from updates.log import eventstream, notify
from updates.log.eventstream import EventDoesNotExist, LogEntry
from updates.streams import dbthreads
from updates.streams.events import STREAM_REVOKED, credential_digest
from updates.streams.limits import renew_streams
from updates.streams.metrics import SSE_CLIENTS
from updates.streams.scopes import Credential, StreamScope, beyond_access, still_valid

logger = logging.getLogger(__name__)

RECENT_LIMIT = 10_000


@dataclass(frozen=True)
class StoredEvent:
    id: int
    type: str
    stations: frozenset[str]
    shipment_id: str | None
    frame: bytes  # the SSE frame, encoded once for every client (empty: for no client)
    # A revocation (core.STREAM_REVOKED): whose streams end; never sent to one.
    revoked: dict | None = None

    @classmethod
    def from_entry(cls, event: LogEntry) -> StoredEvent:
        if event.internal:
            return cls(
                id=int(event.id),
                type=event.type,
                stations=frozenset(),
                shipment_id=None,
                frame=b"",
                revoked=event.envelope["payload"] if event.type == STREAM_REVOKED else None,
            )
        frame = f"id: {event.id}\nevent: {event.type}\ndata: {event.public_data}\n\n".encode()
        return cls(
            id=int(event.id),
            type=event.type,
            stations=frozenset(event.stations),
            shipment_id=event.shipment_id,
            frame=frame,
        )

    @property
    def fingerprint(self) -> bytes:
        """What tells this event from another under the same id (a restarted sequence)."""
        return self.frame or f"{self.type}:{self.revoked}".encode()


class ReplayReset(Exception):
    """The client is further behind than storage (or the replay limit) reaches."""

    def __init__(self, current_id: int):
        super().__init__(current_id)
        self.current_id = current_id


current_id = eventstream.current_id


def events_after(last_id: int, limit: int) -> list[StoredEvent]:
    """Stored events after `last_id`, oldest first; ReplayReset if they cannot all be had."""
    try:
        events = eventstream.read_after(last_id, limit + 1)
    except EventDoesNotExist as exc:
        raise ReplayReset(int(exc.current_id)) from None
    if len(events) > limit:
        raise ReplayReset(current_id())
    return [StoredEvent.from_entry(e) for e in events]


def event_at(event_id: int) -> list[StoredEvent]:
    """The stored event `event_id` (an empty list if there is none)."""
    try:
        events = eventstream.read_after(event_id - 1, 1)
    except EventDoesNotExist:
        return []
    return [StoredEvent.from_entry(e) for e in events if e.id == event_id]


@dataclass(eq=False)
class Subscriber:
    scope: StreamScope
    credential: Credential | None = None
    place: int | None = None  # its row in updates.OpenStream (the per-user cap)
    pending: deque = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    lagging: bool = False
    closed: bool = False
    keepalive_due: bool = False
    # The last event delivered before it subscribed (it follows from there), and the log's
    # generation it follows (see Hub.generation).
    start_id: int = 0
    generation: int = 0

    def close(self) -> None:
        self.closed = True
        self.wake.set()


class Hub:
    def __init__(self):
        self.subscribers: set[Subscriber] = set()
        # Subscribers filed by what they follow: everything, a station, a shipment.
        self.index: dict[tuple[str, str | None], set[Subscriber]] = {}
        self.last_id = 0
        # The frames of recently dispatched events by id, to tell a duplicate from a restart.
        self.recent: dict[int, bytes] = {}
        # Counts restarts of the log's ids (its tables emptied, as between tests): a stream
        # that sees it change forgets the ids it sent, which belonged to the old sequence.
        self.generation = 0
        self._pump: asyncio.Task | None = None
        self._ticker: asyncio.Task | None = None
        self._reauth: asyncio.Task | None = None
        self._starting: asyncio.Lock | None = None
        self._notified: asyncio.Task | None = None
        self._delivering: asyncio.Lock | None = None
        self._listener = None

    def __len__(self) -> int:
        return len(self.subscribers)

    async def ensure_started(self) -> None:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:  # clients arriving together start one pump, not several
            await self._start()

    async def _start(self) -> None:
        if self._pump is None or self._pump.done():
            # Listen first, then read where storage stands: nothing falls between the two.
            self._listener = eventstream.Listener()
            self.last_id = await dbthreads.run(current_id)
            self._pump = asyncio.get_running_loop().create_task(self._run_pump())
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(self._run_ticker())
        if self._reauth is None or self._reauth.done():
            self._reauth = asyncio.get_running_loop().create_task(self._run_reauth())
        if self._notified is None or self._notified.done():
            self._notified = asyncio.get_running_loop().create_task(notify.listen(self._on_notify))

    async def catch_up(self) -> None:
        """Deliver whatever storage holds past what this process has delivered (a transport
        came back). Nothing to do before the first stream started the hub."""
        if self._pump is None or self._pump.done():
            return
        try:
            await self._on_notify(None)
        except Exception:  # the database is away too: its own listener catches up later
            logger.warning("could not catch up from storage", exc_info=True)

    async def _on_notify(self, last_id: int | None) -> None:
        """Another process stored events (or we just started listening): catch up from storage
        if they are past what this process has delivered."""
        try:
            if last_id is not None and last_id <= self.last_id:
                # Ours, or already delivered; unless storage restarted its sequence, which
                # deliver() recognises by the stored event differing from the one we sent.
                if last_id not in self.recent:
                    return
                await self.deliver(await dbthreads.run(event_at, last_id))
                return
            await self.deliver(await dbthreads.run(events_after, self.last_id, 100_000))
        except ReplayReset:
            logger.error("event pump fell beyond storage; streams may have gaps")

    async def _run_reauth(self) -> None:
        """End the streams whose token was revoked or expired, whose session ended, or whose
        user was deactivated, and those wider than their user may receive now (a station no
        longer operated, dispatch rights lost): every TRADENET_SSE_REAUTH_SECONDS, one check
        for them all. Behind the revocations announced as these happen (revocation.py), for
        what no signal announces."""
        while True:
            await asyncio.sleep(settings.TRADENET_SSE_REAUTH_SECONDS)
            try:
                await self.recheck()
            except Exception:  # the database is away: check again next round
                logger.warning("could not re-check the streams' credentials", exc_info=True)

    async def recheck(self) -> None:
        """One round of the re-check: the credentials and scopes of the streams open now, and
        only theirs. A stream that subscribed while the check ran is not in it (it signed in a
        moment ago, with the scope it may have then); closing every stream whose credential was
        not found valid ended up to a tenth of 2,000 streams of distinct users each round, all
        of them valid."""
        checked = [s for s in self.subscribers if s.credential is not None]
        if not checked:
            return
        credentials = {s.credential for s in checked}
        opened = {(s.credential.user_id, s.scope) for s in checked}
        valid = await dbthreads.run(still_valid, credentials)
        beyond = await dbthreads.run(beyond_access, opened)
        for subscriber in checked:
            if subscriber.closed:
                continue
            if subscriber.credential not in valid:
                subscriber.close()
            elif (subscriber.credential.user_id, subscriber.scope) in beyond:
                logger.info("a stream of user %s outgrew their access: ended",
                            subscriber.credential.user_id)  # fmt: skip
                subscriber.close()

    async def _run_ticker(self) -> None:
        """One timer for every stream's keep-alives: a timer per stream would cost each of
        thousands of clients a timer handle and a task on every event."""
        interval = settings.TRADENET_SSE_KEEPALIVE_SECONDS
        while True:
            await asyncio.sleep(interval)
            for subscriber in list(self.subscribers):
                subscriber.keepalive_due = True
                subscriber.wake.set()
            places = [s.place for s in self.subscribers if s.place is not None]
            if not places:
                continue
            try:
                await dbthreads.run(renew_streams, places)
            except Exception:  # the database is away: the places are renewed next round
                logger.warning("could not renew %d open streams", len(places), exc_info=True)

    def _index_keys(self, scope: StreamScope) -> list[tuple[str, str | None]]:
        """Where a scope's subscribers are filed, so an event reaches them without a look at
        every other stream of the process."""
        if scope.shipment_id is not None:
            return [("shipment", scope.shipment_id)]
        if scope.everything:
            return [("everything", None)]
        return [("station", code) for code in scope.stations]

    def subscribe(self, scope: StreamScope, credential: Credential | None = None) -> Subscriber:
        subscriber = Subscriber(
            scope=scope, credential=credential, start_id=self.last_id, generation=self.generation
        )
        self.subscribers.add(subscriber)
        for key in self._index_keys(scope):
            self.index.setdefault(key, set()).add(subscriber)
        SSE_CLIENTS.set(len(self.subscribers))
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        for key in self._index_keys(subscriber.scope):
            filed = self.index.get(key)
            if filed is not None:
                filed.discard(subscriber)
                if not filed:
                    del self.index[key]
        SSE_CLIENTS.set(len(self.subscribers))

    def _audience(self, event: StoredEvent) -> set[Subscriber]:
        audience = set(self.index.get(("everything", None), ()))
        for code in event.stations:
            audience.update(self.index.get(("station", code), ()))
        if event.shipment_id is not None:
            audience.update(self.index.get(("shipment", event.shipment_id), ()))
        return audience

    def revoke(self, revocation: dict) -> None:
        """End, at once, the streams of the revoked credentials (core.events.revocation)."""
        user_id, kind = revocation.get("user_id"), revocation.get("kind")
        keys = set(revocation.get("keys") or ())
        for subscriber in list(self.subscribers):
            credential = subscriber.credential
            if credential is None or credential.user_id != user_id:
                continue
            if kind and credential.kind != kind:
                continue
            if keys and credential_digest(credential.key) not in keys:
                continue
            self.unsubscribe(subscriber)  # no later event is appended to it
            subscriber.close()

    def close_all(self) -> None:
        for subscriber in list(self.subscribers):
            subscriber.close()

    def dispatch(self, event: StoredEvent) -> None:
        """Hand one event, the next in sequence, to every subscriber whose scope allows it; a
        revocation ends its streams instead, before any later event reaches them."""
        self.last_id = event.id
        self.recent[event.id] = event.fingerprint
        if len(self.recent) > RECENT_LIMIT:
            del self.recent[next(iter(self.recent))]
        if event.revoked is not None:
            self.revoke(event.revoked)
            return
        if not event.frame:
            return  # for the servers only
        limit = settings.TRADENET_SSE_CLIENT_BUFFER
        for subscriber in self._audience(event):
            if len(subscriber.pending) >= limit:
                subscriber.lagging = True  # it will catch up from storage
            else:
                subscriber.pending.append(event)
            subscriber.wake.set()

    async def deliver(self, events: list[StoredEvent]) -> None:
        if self._delivering is None:
            self._delivering = asyncio.Lock()
        async with self._delivering:  # the pump and the notification listener take turns
            await self._deliver(events)

    async def _deliver(self, events: list[StoredEvent]) -> None:
        """Dispatch in id order, exactly once each.

        Ids are gapless (the relay assigns them one transaction at a time), but events can
        reach this process out of order or twice (the local queue, NOTIFY, Redis). A gap means
        the missing events are already committed, so they are read from storage rather than
        waited for.
        """
        for event in sorted(events, key=lambda e: e.id):
            if event.id <= self.last_id:
                sent = self.recent.get(event.id)
                if sent == event.fingerprint:
                    continue  # a duplicate
                # A different event under an id we sent means the sequence restarted (the event
                # tables were emptied). An id too old to remember: only storage can tell.
                if sent is None and await dbthreads.run(current_id) >= self.last_id:
                    continue
                self._restart()
            if event.id > self.last_id + 1:
                try:
                    missing = await dbthreads.run(events_after, self.last_id, 100_000)
                except ReplayReset:
                    logger.error("event pump fell beyond storage; streams may have gaps")
                    missing = [event]
                for stored in missing:
                    if stored.id > self.last_id:
                        self.dispatch(stored)
                continue
            self.dispatch(event)

    def _restart(self) -> None:
        logger.warning("event ids restarted (were at %s)", self.last_id)
        self.last_id = 0
        self.recent.clear()
        self.generation += 1
        for subscriber in self.subscribers:
            subscriber.pending.clear()  # events of the old sequence

    async def _run_pump(self) -> None:
        listener = self._listener
        try:
            while True:
                await listener.wait()
                items, overflow = listener.take()
                events = []
                for item in items:
                    try:
                        events.append(StoredEvent.from_entry(eventstream.entry_from_upstream(item)))
                    except (ValueError, KeyError, TypeError):
                        logger.warning("skipping an event this version cannot read: %r", item)
                try:
                    if overflow:
                        # django-eventstream dropped some while we were busy: read them back.
                        events = await dbthreads.run(events_after, self.last_id, 100_000)
                    await self.deliver(events)
                except ReplayReset:
                    logger.error("event pump fell beyond storage; streams may have gaps")
                except Exception:
                    # Keep pumping: one bad batch (a database hiccup) must not silence every
                    # stream of the process. The next event's gap check reads what was missed.
                    logger.exception("event pump failed on a batch of %d", len(events))
        finally:
            listener.close()


hub = Hub()
