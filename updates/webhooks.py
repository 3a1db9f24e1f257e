"""Signed webhooks: the committed events of an operator's stations, POSTed to their endpoints.

Two steps, each active in one process per deployment (the server's main process,
`tradenet.serve`, or every server process when served otherwise):

1. `WebhookFanout`, an exporter (`updates.exporters`): reads the event log after its position
   and writes one `WebhookDelivery` per matching endpoint, then advances the position. The rows
   are the durable queue: a crash before the position moved writes them again, and the unique
   (endpoint, message id) keeps one.
2. `WebhookSender`: POSTs due deliveries from one event loop, several at a time per endpoint
   but each station's events in the log's order (`choose`; a receiver that was down catches up
   in order), endpoints side by side, so one slow or dead endpoint never holds up the others or
   the relay. Each attempt is logged; a failure is retried on TRADENET_WEBHOOK_RETRY_SCHEDULE
   (with jitter); an endpoint with no success for TRADENET_WEBHOOK_DISABLE_AFTER_HOURS is
   disabled, and says why.

Signatures follow the Standard Webhooks specification (`standardwebhooks`): `webhook-id` is the
stream's event id (and the RabbitMQ `message_id`), `webhook-timestamp`, and `webhook-signature`
with one `v1,` HMAC-SHA256 per valid secret (two during a rotation's overlap).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
import json
import logging
import random
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from inventory.access import station_access
from inventory.models import Station
from tradenet.dbconn import conninfo

from .eventstream import LogEntry
from .exporters import Exporter
from .hub import public_data
from .models import WebhookDelivery, WebhookEndpoint
from .singleton import SingletonWorker

logger = logging.getLogger(__name__)

TEST_EVENT = "webhook.test"
WAKE_CHANNEL = "tradenet_webhooks"
EXCERPT = 500


# Secrets


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _fernet():
    from cryptography.fernet import Fernet

    key = hashlib.sha256(f"{settings.SECRET_KEY}:webhook-secrets".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str) -> str:
    """The secret encrypted with a key derived from SECRET_KEY (rotating SECRET_KEY means
    rotating every endpoint's secret)."""
    return _fernet().encrypt(secret.encode()).decode()


def unseal(sealed: str) -> str:
    return _fernet().decrypt(sealed.encode()).decode()


# Targets


class RefusedTarget(ValueError):
    """A URL that webhooks may not be sent to."""


def check_target(url: str) -> None:
    """Refuse URLs that are not http(s), or whose host resolves to a loopback, private,
    link-local, reserved or metadata address (unless TRADENET_WEBHOOK_ALLOW_PRIVATE)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedTarget("Use an http:// or https:// URL with a host.")
    if settings.TRADENET_WEBHOOK_ALLOW_PRIVATE:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise RefusedTarget(f"{parts.hostname} does not resolve ({exc}).") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise RefusedTarget(
                f"{parts.hostname} resolves to {address}, a loopback, private, link-local or "
                "reserved address; webhooks go to public addresses only."
            )


# Registration and operations (the API and the admin call these)


def endpoint_create(
    *, owner, url: str, event_types: Iterable[str] = (), stations: Iterable = (), is_active=True
):
    """Register an endpoint; returns it and its secret, shown this once. No event types: all of
    them; no stations: every station the owner operates."""
    check_target(url)
    secret = new_secret()
    endpoint = WebhookEndpoint.objects.create(
        owner=owner,
        url=url,
        event_types=sorted(set(event_types)),
        is_active=is_active,
        secret_sealed=seal(secret),
    )
    endpoint.stations.set(stations)
    return endpoint, secret


def endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> str:
    """A new secret; the current one keeps signing for TRADENET_WEBHOOK_SECRET_OVERLAP_HOURS."""
    secret = new_secret()
    endpoint.previous_secret_sealed = endpoint.secret_sealed
    endpoint.previous_secret_until = timezone.now() + timedelta(
        hours=settings.TRADENET_WEBHOOK_SECRET_OVERLAP_HOURS
    )
    endpoint.secret_sealed = seal(secret)
    endpoint.save(
        update_fields=["secret_sealed", "previous_secret_sealed", "previous_secret_until"]
    )
    return secret


def endpoint_enable(*, endpoint: WebhookEndpoint) -> None:
    endpoint.is_active, endpoint.disabled_reason, endpoint.failing_since = True, "", None
    endpoint.save(update_fields=["is_active", "disabled_reason", "failing_since", "updated_at"])


def send_test_event(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    body = json.dumps(
        {"message": "A test event from TradeNet.", "published_at": timezone.now().isoformat()}
    )
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        message_id=f"test-{uuid.uuid4().hex}",
        event_type=TEST_EVENT,
        body=body,
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(wake_sender)
    return delivery


def redeliver(*, delivery: WebhookDelivery) -> None:
    delivery.state = WebhookDelivery.State.PENDING
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["state", "next_attempt_at"])
    transaction.on_commit(wake_sender)


# Step 1: fan-out of the log into deliveries


def _audience(endpoint: WebhookEndpoint) -> set[str] | None:
    """Station codes whose events the endpoint gets (None: every station): the ones it names,
    or all its owner operates, never beyond what the owner may read."""
    access = station_access(endpoint.owner)
    named = {station.code: station.pk for station in endpoint.stations.all()}
    if access.all_stations or endpoint.owner.is_superuser:
        return set(named) or None
    readable = {code for code, pk in named.items() if pk in access.station_ids}
    if named:
        return readable
    return set(Station.objects.filter(pk__in=access.station_ids).values_list("code", flat=True))


# What makes the endpoints' audiences change: endpoints, their stations, operators' stations.
# Read for every batch (one statement); the audiences are worked out again when it changes, and
# at least every AUDIENCE_SECONDS (a change of someone's permissions, which it does not see).
AUDIENCE_VERSION = """
SELECT (SELECT count(*) || ':' || coalesce(max(id), 0) || ':' || coalesce(max(updated_at)::text, '')
        FROM updates_webhookendpoint WHERE is_active),
       (SELECT count(*) || ':' || coalesce(max(id), 0) FROM updates_webhookendpoint_stations),
       (SELECT count(*) || ':' || coalesce(max(id), 0) FROM inventory_station_operators)
"""
AUDIENCE_SECONDS = 1.0


class Audiences:
    """The active endpoints and the station codes each may receive, worked out again only when
    what they depend on has changed."""

    def __init__(self):
        self.version, self.read_at = None, 0.0
        self.endpoints: list[WebhookEndpoint] = []
        self.of: dict[int, set[str] | None] = {}

    def current(self) -> tuple[list[WebhookEndpoint], dict[int, set[str] | None]]:
        with connection.cursor() as cursor:
            cursor.execute(AUDIENCE_VERSION)
            version = cursor.fetchone()
        if version != self.version or time.monotonic() - self.read_at > AUDIENCE_SECONDS:
            self.endpoints = list(
                WebhookEndpoint.objects.filter(is_active=True)
                .select_related("owner")
                .prefetch_related("stations")
            )
            self.of = {endpoint.pk: _audience(endpoint) for endpoint in self.endpoints}
            self.version, self.read_at = version, time.monotonic()
        return self.endpoints, self.of


def fan_out(entries: list[LogEntry], audiences: Audiences | None = None) -> int:
    """Write a delivery for every (event, endpoint that wants it); returns how many."""
    endpoints, audience_of = (audiences or Audiences()).current()
    if not endpoints:
        return 0
    now = timezone.now()
    rows = []
    for entry in entries:
        envelope = json.loads(entry.data)
        codes = list(envelope.get("stations") or ())
        stations = set(codes)
        body = public_data(envelope)
        for endpoint in endpoints:
            if endpoint.event_types and entry.type not in endpoint.event_types:
                continue
            audience = audience_of[endpoint.pk]
            if audience is not None and not (stations & audience):
                continue
            rows.append((endpoint.pk, str(entry.id), entry.type, body, codes))
    if rows:
        # One statement for the batch (the ORM's bulk_create took most of this thread's time).
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO updates_webhookdelivery (endpoint_id, message_id, event_type, body, "
                "stations, state, attempts, next_attempt_at, created_at) "
                "SELECT e, m, t, b, ARRAY(SELECT jsonb_array_elements_text(s)), 'pending', 0, "
                "%s, %s FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], "
                "%s::jsonb[]) AS r(e, m, t, b, s) ON CONFLICT DO NOTHING",
                [now, now, *map(list, zip(*[(e, m, t, b, Jsonb(s)) for e, m, t, b, s in rows],
                                          strict=True))],
            )  # fmt: skip
        wake_sender()
    return len(rows)


def wake_sender() -> None:
    """Tell the active sender (in whichever process) that deliveries are due."""
    with connection.cursor() as cursor:
        cursor.execute(f"NOTIFY {WAKE_CHANNEL}")


class WebhookFanout(Exporter):
    name = "webhooks"

    def __init__(self):
        super().__init__()
        self.audiences = Audiences()

    def send(self, entries: list[LogEntry]) -> None:
        try:
            fan_out(entries, self.audiences)
        finally:
            close_old_connections()


# Step 2: sending
#
# Each endpoint gets several deliveries on their way at once (TRADENET_WEBHOOK_IN_FLIGHT), so
# its rate is not one round trip per event; but a delivery never overtakes an earlier one to the
# same endpoint about any of the same stations: each station's events arrive in the log's order,
# one at a time, while events of stations with nothing in common go side by side. A failure
# pauses the endpoint: nothing after its failed delivery goes out until that one's retry is due;
# a retry goes alone, and when it succeeds the endpoint's other waiting retries are due at once,
# so a receiver that was down catches up in order.

# Each endpoint's pending deliveries, oldest first, where the oldest is due (an endpoint whose
# oldest waits for its retry is paused, and costs one index probe).
CANDIDATES = """
SELECT d.id, d.endpoint_id, d.message_id, d.event_type, d.stations, d.attempts,
       d.next_attempt_at <= now() AS due,
       e.url, e.secret_sealed, e.previous_secret_sealed, e.previous_secret_until > now(), d.body
FROM updates_webhookendpoint e
CROSS JOIN LATERAL (
    SELECT * FROM updates_webhookdelivery d
    WHERE d.endpoint_id = e.id AND d.state = 'pending'
    ORDER BY d.id LIMIT %s
) d
WHERE e.is_active AND (
    SELECT h.next_attempt_at <= now() FROM updates_webhookdelivery h
    WHERE h.endpoint_id = e.id AND h.state = 'pending' ORDER BY h.id LIMIT 1
)
ORDER BY d.endpoint_id, d.id
LIMIT %s
"""


@dataclass
class Pending:
    """A pending delivery as the sender sees it."""

    id: int
    endpoint_id: int
    message_id: str
    event_type: str
    stations: list[str]
    attempts: int
    due: bool
    url: str
    secrets_sealed: tuple[str, ...]
    body: str = ""

    @classmethod
    def from_row(cls, row) -> Pending:
        *fields, sealed, previous, previous_valid, body = row
        secrets_sealed = (sealed, previous) if previous and previous_valid else (sealed,)
        return cls(*fields, secrets_sealed, body)


@dataclass(frozen=True)
class Outcome:
    started_at: object
    status: int | None
    duration_ms: int
    excerpt: str
    error: str

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def choose(
    candidates: list[Pending],
    flying: list[Pending],
    window: int,
    settled: dict[int, bool] | None = None,
) -> list[Pending]:
    """Of one endpoint's pending deliveries (oldest first), those to send now, given the ones on
    their way: in order, up to `window` on their way at once, none overtaking an earlier one
    about any of its stations, nothing past a delivery waiting for its retry, a retry alone.
    `settled` (delivery id: succeeded) are outcomes the candidates' reading may not show yet."""
    if any(p.attempts for p in flying):
        return []  # a retry probes the endpoint alone
    settled = settled or {}
    busy = {code for p in flying for code in p.stations}
    flying_ids = {p.id for p in flying}
    chosen: list[Pending] = []
    for delivery in candidates:
        if delivery.id in flying_ids or settled.get(delivery.id):
            continue
        if not delivery.due or delivery.id in settled:
            break  # paused behind a delivery waiting for its retry
        if delivery.attempts:
            if not flying and not chosen:
                chosen.append(delivery)
            break
        if len(flying) + len(chosen) >= window:
            break
        if busy.intersection(delivery.stations):
            busy.update(delivery.stations)  # and whatever comes later about them waits too
            continue
        busy.update(delivery.stations)
        chosen.append(delivery)
    return chosen


class Signer:
    """Standard Webhooks signatures, with each secret unsealed once (not per delivery)."""

    def __init__(self):
        self._keys: dict[str, object] = {}

    def headers(self, delivery: Pending, now) -> dict[str, str]:
        from standardwebhooks import Webhook

        signatures = []
        for sealed in delivery.secrets_sealed:
            if sealed not in self._keys:
                if len(self._keys) > 10_000:
                    self._keys.clear()
                self._keys[sealed] = Webhook(unseal(sealed))
            signatures.append(self._keys[sealed].sign(delivery.message_id, now, delivery.body))
        return {
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": " ".join(signatures),
            "content-type": "application/json",
            "user-agent": "TradeNet-Webhooks/1",
        }


async def check_target_async(url: str) -> None:
    """`check_target` without blocking the sender's loop on name resolution."""
    import asyncio

    if settings.TRADENET_WEBHOOK_ALLOW_PRIVATE:
        return
    await asyncio.get_running_loop().run_in_executor(None, check_target, url)


async def post(session, signer: Signer, delivery: Pending) -> Outcome:
    """POST one delivery, signed; what came back (never raises)."""
    import asyncio

    import aiohttp

    started_at, started = timezone.now(), time.monotonic()
    status, excerpt, error = None, "", ""
    limit = settings.TRADENET_WEBHOOK_TIMEOUT_SECONDS
    try:
        async with asyncio.timeout(limit):  # the whole attempt, however slowly it drips
            await check_target_async(delivery.url)  # again: what a name resolves to can change
            async with session.post(
                delivery.url,
                data=delivery.body.encode(),
                headers=signer.headers(delivery, started_at),
                allow_redirects=False,
            ) as answer:
                status = answer.status
                excerpt = (await answer.content.read(EXCERPT)).decode("utf-8", "replace")
    except TimeoutError:
        status, error = None, f"Timeout: no complete answer within {limit:g} s"
    except (aiohttp.ClientError, RefusedTarget, OSError) as exc:
        status, error = None, f"{exc.__class__.__name__}: {exc}"[:EXCERPT]
    except Exception as exc:  # e.g. a secret sealed under another SECRET_KEY
        logger.exception("webhook delivery %s could not be sent", delivery.id)
        status, error = None, f"{exc.__class__.__name__}: {exc}"[:EXCERPT]
    return Outcome(started_at, status, int((time.monotonic() - started) * 1000), excerpt, error)


async def record(conn, finished: list[tuple[Pending, Outcome]]) -> None:
    """Write the attempts, the deliveries' new states and their endpoints' health, in one
    transaction."""
    if not finished:
        return
    now = timezone.now()
    schedule = settings.TRADENET_WEBHOOK_RETRY_SCHEDULE
    states, next_at = [], []
    for delivery, outcome in finished:
        attempts = delivery.attempts + 1
        if outcome.succeeded:
            states.append(WebhookDelivery.State.DELIVERED.value)
            next_at.append(None)
        elif attempts > len(schedule):
            states.append(WebhookDelivery.State.FAILED.value)
            next_at.append(None)
        else:
            states.append(WebhookDelivery.State.PENDING.value)
            wait = schedule[attempts - 1] * random.uniform(0.8, 1.2)
            next_at.append(now + timedelta(seconds=wait))
    ids = [d.id for d, _ in finished]
    failing = sorted({d.endpoint_id for d, o in finished if not o.succeeded})
    answering = sorted({d.endpoint_id for d, _ in finished} - set(failing))
    async with conn.transaction():
        # The log of attempts need not wait for the disk: if PostgreSQL crashed before it was
        # written, the deliveries would simply be sent again (at least once, same webhook-id).
        await conn.execute("SET LOCAL synchronous_commit TO OFF")
        await conn.execute(
            "INSERT INTO updates_webhookattempt "
            "(delivery_id, attempted_at, status_code, duration_ms, response_excerpt, error) "
            "SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::int[], %s::int[], "
            "%s::text[], %s::text[])",
            [
                ids,
                [o.started_at for _, o in finished],
                [o.status for _, o in finished],
                [o.duration_ms for _, o in finished],
                [o.excerpt.replace("\x00", "") for _, o in finished],
                [o.error.replace("\x00", "") for _, o in finished],
            ],
        )
        await conn.execute(
            "UPDATE updates_webhookdelivery d "
            "SET state = v.state, attempts = d.attempts + 1, next_attempt_at = v.next_at "
            "FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[]) AS v(id, state, next_at) "
            "WHERE d.id = v.id",
            [ids, states, next_at],
        )
        if answering:
            # Back after failing: its other waiting retries need not sit out their backoff.
            recovered = await conn.execute(
                "UPDATE updates_webhookendpoint SET failing_since = NULL "
                "WHERE id = ANY(%s) AND failing_since IS NOT NULL RETURNING id",
                [answering],
            )
            recovered = await recovered.fetchall()
            if recovered:
                await conn.execute(
                    "UPDATE updates_webhookdelivery SET next_attempt_at = now() "
                    "WHERE endpoint_id = ANY(%s) AND state = 'pending' AND next_attempt_at > now()",
                    [[row[0] for row in recovered]],
                )
        if failing:
            last = {d.endpoint_id: o for d, o in finished if not o.succeeded}
            await _note_failures(conn, now, last)


async def _note_failures(conn, now, last: dict[int, Outcome]) -> None:
    """Failing endpoints: since when; disabled (saying why) once that is too long ago."""
    await conn.execute(
        "UPDATE updates_webhookendpoint SET failing_since = %s "
        "WHERE id = ANY(%s) AND failing_since IS NULL",
        [now, sorted(last)],
    )
    limit = timedelta(hours=settings.TRADENET_WEBHOOK_DISABLE_AFTER_HOURS)
    overdue = await conn.execute(
        "SELECT id, failing_since FROM updates_webhookendpoint "
        "WHERE id = ANY(%s) AND is_active AND failing_since < %s",
        [sorted(last), now - limit],
    )
    for endpoint_id, failing_since in await overdue.fetchall():
        outcome = last[endpoint_id]
        answer = f"HTTP {outcome.status}" if outcome.status is not None else outcome.error
        reason = (
            f"Disabled {now:%Y-%m-%d %H:%M} UTC: no successful delivery since "
            f"{failing_since:%Y-%m-%d %H:%M} UTC (last answer: {answer})."
        )[:500]
        await conn.execute(
            "UPDATE updates_webhookendpoint SET is_active = false, disabled_reason = %s, "
            "updated_at = %s WHERE id = %s",
            [reason, now, endpoint_id],
        )
        logger.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)


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

    def serve(self, conn) -> None:
        import asyncio

        conn.execute(f"LISTEN {WAKE_CHANNEL}")
        asyncio.run(self._serve(conn))

    async def _serve(self, conn) -> None:
        import asyncio

        import aiohttp
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

        async def writer(connection) -> None:
            nonlocal writes
            while True:
                await write.wait()
                write.clear()
                batch = list(unwritten.values())
                if batch:
                    await record(connection, batch)
                    writes += 1
                    for delivery, outcome in batch:
                        del unwritten[delivery.id]
                        written[delivery.id] = (writes, outcome.succeeded)

        params = conninfo(self.application_name)
        # aiohttp rather than httpx: its pool stays cheap with hundreds of requests on their
        # way (httpx's async pool took a core of its own at 64). No cookies carried between
        # endpoints, no proxy from the environment.
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=None),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
        )
        outcomes = await psycopg.AsyncConnection.connect(autocommit=True, **params)
        writing = asyncio.ensure_future(writer(outcomes))
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
            await outcomes.close()


def configured() -> list[SingletonWorker]:
    return [WebhookFanout(), WebhookSender()]
