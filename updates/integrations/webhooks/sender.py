"""Step 2, the worker: the active sender's event loop, reading the queue, sending and recording
side by side."""

from __future__ import annotations

import contextlib
import logging
import threading

from django.conf import settings

from tradenet.dbconn import conninfo
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
        import asyncio

        conn.execute(f"LISTEN {WAKE_CHANNEL}")
        asyncio.run(self._serve(conn))

    async def _serve(self, conn) -> None:
        import asyncio

        import psycopg

        loop = asyncio.get_running_loop()
        wake, write = asyncio.Event(), asyncio.Event()
        signer = Signer()
        queue: dict[int, list[Pending]] = {}  # endpoint: its pending deliveries, as last read
        flying: dict[asyncio.Task, Pending] = {}
        unwritten: dict[int, tuple[Pending, Outcome]] = {}  # answered, outcome not written yet
        written: dict[int, tuple[int, bool]] = {}  # id: (write number, succeeded), recent
        writes = 0
        over = threading.Event()

        def answered(task: asyncio.Task) -> None:
            delivery = flying.pop(task)
            if task.cancelled():  # stopped mid-way: it stays pending, and goes again
                return
            outcome = task.result()
            unwritten[delivery.id] = (delivery, outcome)
            write.set()
            wake.set()

        def taken_in(seen: int, rows: list) -> None:  # on the loop
            nonlocal queue
            fresh: dict[int, list[Pending]] = {}
            for row in rows:
                delivery = Pending.from_row(row)
                fresh.setdefault(delivery.endpoint_id, []).append(delivery)
            queue = fresh
            # Outcomes written before this reading began are in it: forget them.
            for delivery_id in [i for i, (n, _) in written.items() if n <= seen]:
                del written[delivery_id]
            wake.set()

        def read_queue() -> None:
            """On a thread of its own, with the lock's connection, which LISTENs: read the
            queue when the fan-out announces deliveries, and every `idle_seconds` (retries
            coming due, failures written)."""
            while not (self.stopping.is_set() or over.is_set()):
                seen = writes  # before the reading: what was written by then is in it
                rows = conn.execute(CANDIDATES, [self.lookahead, self.lookahead_total]).fetchall()
                loop.call_soon_threadsafe(taken_in, seen, rows)
                for _ in conn.notifies(timeout=self.idle_seconds, stop_after=1):
                    pass

        async def writer() -> None:
            nonlocal writes
            while True:
                await write.wait()
                write.clear()
                batch = list(unwritten.values())
                if batch:
                    lost = await write_down(batch)
                    writes += 1
                    for delivery, outcome in batch:
                        del unwritten[delivery.id]
                        if delivery.id not in lost:
                            written[delivery.id] = (writes, outcome.succeeded)

        async def write_down(batch: list[tuple[Pending, Outcome]]) -> set[int]:
            """Write a batch of outcomes; never raises (a writer that died would end the sender
            and, with it, every endpoint's deliveries on their way). A failed write is tried
            again, on a new connection if it broke; one that still fails is written endpoint by
            endpoint, so only the endpoint whose rows fail loses them: those are logged, stay
            pending in the database, and are sent again (same webhook-id). Returns their ids."""
            for attempt in range(self.write_tries):
                try:
                    await record(await outcomes_connection(), batch)
                    return set()
                except Exception:
                    logger.warning(
                        "webhook sender: writing %s outcomes failed (try %s of %s)",
                        len(batch), attempt + 1, self.write_tries, exc_info=True,
                    )  # fmt: skip
                    await asyncio.sleep(0.05 * 2**attempt)
            lost: set[int] = set()
            by_endpoint: dict[int, list[tuple[Pending, Outcome]]] = {}
            for delivery, outcome in batch:
                by_endpoint.setdefault(delivery.endpoint_id, []).append((delivery, outcome))
            for endpoint_id, part in by_endpoint.items():
                try:
                    await record(await outcomes_connection(), part)
                except Exception:
                    logger.exception(
                        "webhook sender: the outcomes of %s deliveries to endpoint %s could not "
                        "be written; they stay pending and go again",
                        len(part), endpoint_id,
                    )  # fmt: skip
                    lost.update(delivery.id for delivery, _ in part)
            return lost

        async def outcomes_connection():
            """The writer's connection, made again if the last one broke."""
            nonlocal outcomes
            if outcomes is None or outcomes.closed or outcomes.broken:
                if outcomes is not None:
                    await outcomes.close()
                    outcomes = None
                outcomes = await psycopg.AsyncConnection.connect(autocommit=True, **params)
            return outcomes

        params = conninfo(self.application_name)
        resolver = checked_resolver(self.lookup)
        session = new_session(resolver)
        outcomes = await psycopg.AsyncConnection.connect(autocommit=True, **params)
        writing = asyncio.ensure_future(writer())
        helpers = [loop.run_in_executor(None, read_queue), writing]
        try:
            while not self.stopping.is_set():
                for helper in helpers:
                    if helper.done():
                        helper.result()  # raises what broke it
                        raise RuntimeError("a webhook sender helper ended")
                wake.clear()  # what happens from here on wakes the wait below
                settled = {i: ok for i, (_, ok) in written.items()}
                settled.update({i: o.succeeded for i, (_, o) in unwritten.items()})
                room = settings.TRADENET_WEBHOOK_MAX_IN_FLIGHT - len(flying)
                on_their_way: dict[int, list[Pending]] = {}
                for delivery in flying.values():
                    on_their_way.setdefault(delivery.endpoint_id, []).append(delivery)
                for endpoint_id, pending in queue.items():
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
                        task = asyncio.create_task(post(session, signer, delivery))
                        flying[task] = delivery
                        task.add_done_callback(answered)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.idle_seconds)
            if flying:  # stopping: what is on its way is let finish and written down
                await asyncio.wait(list(flying), timeout=settings.TRADENET_WEBHOOK_TIMEOUT_SECONDS)
            write.set()
            for _ in range(100):  # by the writer, which may be writing a batch right now
                if not unwritten or writing.done():
                    break
                await asyncio.sleep(0.05)
        finally:
            over.set()  # the reading thread ends within idle_seconds
            for task in [*helpers[1:], *flying]:
                task.cancel()
            await session.close()
            await resolver.close()
            if outcomes is not None:
                await outcomes.close()
