"""Step 2, the worker: the active sender's event loop, reading the queue, sending and recording
side by side."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

import psycopg
from django.conf import settings

from core.dbconn import conninfo
from updates.integrations.webhooks.attempts import (
    CANDIDATES,
    Outcome,
    Pending,
    Signer,
    choose,
    new_session,
    post,
    record,
)
from updates.integrations.webhooks.security import checked_resolver
from updates.integrations.webhooks.services import WAKE_CHANNEL
from updates.log.singleton import SingletonWorker

logger = logging.getLogger(__name__)


class WebhookSender(SingletonWorker):
    """POSTs due deliveries from one event loop, many on their way at once, each endpoint's
    chosen by `choose` from what it last read of the queue. Three things run side by side so that
    none waits for another: reading the queue (a thread on the lock's connection, which LISTENs:
    when the fan-out announces deliveries, and every `idle_seconds` for retries coming due),
    sending (the loop), and writing outcomes (a second connection). The next delivery about a
    station leaves as soon as the previous one is answered, not after a read or a write."""

    lock_key = 0x5457484B  # "TWHK"
    thread_name = "webhook-sender"
    application_name = "tradenet-webhook-sender"
    lookahead = 200  # pending deliveries per endpoint held in memory
    lookahead_total = 5000
    idle_seconds = 0.25
    write_tries = 3  # a batch of outcomes, before it is written endpoint by endpoint
    lookup = None  # what answers names (an aiohttp resolver); None: the system's, via aiohttp

    def serve(self, conn) -> None:
        conn.execute(f"LISTEN {WAKE_CHANNEL}")
        asyncio.run(self._serve(conn))

    async def _serve(self, conn) -> None:
        spell = _Spell(self, conn, asyncio.get_running_loop())
        resolver = checked_resolver(self.lookup)
        session = new_session(resolver)
        await spell.outcomes_connection()  # the writer's, made before anything is sent
        writing = asyncio.ensure_future(spell.writer())
        helpers = [spell.loop.run_in_executor(None, spell.read_queue), writing]
        try:
            while not self.stopping.is_set():
                for helper in helpers:
                    if helper.done():
                        helper.result()  # raises what broke it
                        raise RuntimeError("a webhook sender helper ended")
                spell.wake.clear()  # what happens from here on wakes the wait below
                spell.send_due(session)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(spell.wake.wait(), self.idle_seconds)
            await spell.wind_down(writing)
        finally:
            spell.over.set()  # the reading thread ends within idle_seconds
            for task in [*helpers[1:], *spell.flying]:
                task.cancel()
            await session.close()
            await resolver.close()
            if spell.outcomes is not None:
                await spell.outcomes.close()


class _Spell:
    """The sender's state during one spell on the lock's connection, shared by the loop that
    sends (`send_due`, `answered`), the thread that reads the queue (`read_queue`, handing its
    reading to the loop in `taken_in`) and the task that writes outcomes (`writer`)."""

    def __init__(self, worker: WebhookSender, conn, loop: asyncio.AbstractEventLoop) -> None:
        self.worker = worker
        self.conn = conn  # the lock's, which LISTENs
        self.loop = loop
        self.wake, self.write = asyncio.Event(), asyncio.Event()
        self.signer = Signer()
        self.queue: dict[int, list[Pending]] = {}  # endpoint: its pending deliveries, as last read
        self.flying: dict[asyncio.Task, Pending] = {}
        self.unwritten: dict[int, tuple[Pending, Outcome]] = {}  # answered, outcome not written
        self.written: dict[int, tuple[int, bool]] = {}  # id: (write number, succeeded), recent
        self.writes = 0
        self.over = threading.Event()
        self.params = conninfo(worker.application_name)
        self.outcomes = None  # the writer's connection

    def send_due(self, session) -> None:
        """Send what may go now: each endpoint's choice of its pending deliveries, given those
        on their way and the outcomes its reading may not show yet, up to the room left."""
        settled = {i: ok for i, (_, ok) in self.written.items()}
        settled.update({i: o.succeeded for i, (_, o) in self.unwritten.items()})
        room = settings.TRADENET_WEBHOOK_MAX_IN_FLIGHT - len(self.flying)
        on_their_way: dict[int, list[Pending]] = {}
        for delivery in self.flying.values():
            on_their_way.setdefault(delivery.endpoint_id, []).append(delivery)
        for endpoint_id, pending in self.queue.items():
            if room <= 0:
                break
            chosen = choose(
                pending,
                on_their_way.get(endpoint_id, []),
                settings.TRADENET_WEBHOOK_IN_FLIGHT,
                settled,
            )[:room]
            room -= len(chosen)
            for delivery in chosen:
                task = asyncio.create_task(post(session, self.signer, delivery))
                self.flying[task] = delivery
                task.add_done_callback(self.answered)

    def answered(self, task: asyncio.Task) -> None:
        delivery = self.flying.pop(task)
        if task.cancelled():  # stopped mid-way: it stays pending, and goes again
            return
        outcome = task.result()
        self.unwritten[delivery.id] = (delivery, outcome)
        self.write.set()
        self.wake.set()

    def taken_in(self, seen: int, rows: list) -> None:  # on the loop
        fresh: dict[int, list[Pending]] = {}
        for row in rows:
            delivery = Pending.from_row(row)
            fresh.setdefault(delivery.endpoint_id, []).append(delivery)
        self.queue = fresh
        # Outcomes written before this reading began are in it: forget them.
        for delivery_id in [i for i, (n, _) in self.written.items() if n <= seen]:
            del self.written[delivery_id]
        self.wake.set()

    def read_queue(self) -> None:
        """On a thread of its own, with the lock's connection, which LISTENs: read the
        queue when the fan-out announces deliveries, and every `idle_seconds` (retries
        coming due, failures written)."""
        worker, conn = self.worker, self.conn
        while not (worker.stopping.is_set() or self.over.is_set()):
            seen = self.writes  # before the reading: what was written by then is in it
            rows = conn.execute(CANDIDATES, [worker.lookahead, worker.lookahead_total]).fetchall()
            self.loop.call_soon_threadsafe(self.taken_in, seen, rows)
            for _ in conn.notifies(timeout=worker.idle_seconds, stop_after=1):
                pass

    async def writer(self) -> None:
        while True:
            await self.write.wait()
            self.write.clear()
            batch = list(self.unwritten.values())
            if batch:
                lost = await self.write_down(batch)
                self.writes += 1
                for delivery, outcome in batch:
                    del self.unwritten[delivery.id]
                    if delivery.id not in lost:
                        self.written[delivery.id] = (self.writes, outcome.succeeded)

    async def write_down(self, batch: list[tuple[Pending, Outcome]]) -> set[int]:
        """Write a batch of outcomes; never raises (a writer that died would end the sender
        and, with it, every endpoint's deliveries on their way). A failed write is tried
        again, on a new connection if it broke; one that still fails is written endpoint by
        endpoint, so only the endpoint whose rows fail loses them: those are logged, stay
        pending in the database, and are sent again (same webhook-id). Returns their ids."""
        tries = self.worker.write_tries
        for attempt in range(tries):
            try:
                await record(await self.outcomes_connection(), batch)
                return set()
            except Exception:
                logger.warning(
                    "webhook sender: writing %s outcomes failed (try %s of %s)",
                    len(batch), attempt + 1, tries, exc_info=True,
                )  # fmt: skip
                await asyncio.sleep(0.05 * 2**attempt)
        lost: set[int] = set()
        by_endpoint: dict[int, list[tuple[Pending, Outcome]]] = {}
        for delivery, outcome in batch:
            by_endpoint.setdefault(delivery.endpoint_id, []).append((delivery, outcome))
        for endpoint_id, part in by_endpoint.items():
            try:
                await record(await self.outcomes_connection(), part)
            except Exception:
                logger.exception(
                    "webhook sender: the outcomes of %s deliveries to endpoint %s could not "
                    "be written; they stay pending and go again",
                    len(part), endpoint_id,
                )  # fmt: skip
                lost.update(delivery.id for delivery, _ in part)
        return lost

    async def outcomes_connection(self):
        """The writer's connection, made again if the last one broke."""
        if self.outcomes is None or self.outcomes.closed or self.outcomes.broken:
            if self.outcomes is not None:
                await self.outcomes.close()
                self.outcomes = None
            self.outcomes = await psycopg.AsyncConnection.connect(autocommit=True, **self.params)
        return self.outcomes

    async def wind_down(self, writing: asyncio.Future) -> None:
        """The sending loop has stopped; the writer has not."""
        if self.flying:  # stopping: what is on its way is let finish and written down
            await asyncio.wait(list(self.flying), timeout=settings.TRADENET_WEBHOOK_TIMEOUT_SECONDS)
        self.write.set()
        for _ in range(100):  # by the writer, which may be writing a batch right now
            if not self.unwritten or writing.done():
                break
            await asyncio.sleep(0.05)
