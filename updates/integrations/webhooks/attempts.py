"""Step 2, one delivery at a time: which of an endpoint's pending deliveries go out next
(`choose`), one signed POST, and what came back, recorded."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from updates.integrations.webhooks.models import WebhookDelivery
from updates.integrations.webhooks.security import (
    EXCERPT,
    RefusedTarget,
    check_url,
    unseal,
)

logger = logging.getLogger(__name__)

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


def new_session(resolver):
    """The sender's HTTP client. aiohttp rather than httpx: its pool stays cheap with hundreds
    of requests on their way (httpx's async pool took a core of its own at 64). No cookies
    carried between endpoints, no proxy from the environment. Every new connection resolves
    its host through `resolver` (`security.checked_resolver`: the target rules applied to its
    answers) and goes only to the addresses that passed; no DNS cache (a pooled connection
    keeps the address it was checked at, and a new one asks again, so a name's new answer is
    judged when it is used). The caller closes the resolver after the session (aiohttp closes
    only one it made itself)."""
    import aiohttp

    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, use_dns_cache=False, resolver=resolver),
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
    )


async def post(session, signer: Signer, delivery: Pending) -> Outcome:
    """POST one delivery, signed; what came back (never raises)."""
    import asyncio

    import aiohttp

    started_at, started = timezone.now(), time.monotonic()
    status, excerpt, error = None, "", ""
    limit = settings.TRADENET_WEBHOOK_TIMEOUT_SECONDS
    try:
        async with asyncio.timeout(limit):  # the whole attempt, however slowly it drips
            check_url(delivery.url)  # the scheme, the port, an address in the URL; a name is
            # checked by the session's resolver, on the addresses the connection then uses
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


def _text(value: str) -> str:
    """As PostgreSQL's text takes it: no NUL, nothing UTF-8 cannot encode (an exception's
    message may carry a lone surrogate)."""
    return value.replace("\x00", "").encode("utf-8", "replace").decode()


async def record(conn, finished: list[tuple[Pending, Outcome]]) -> None:
    """Write the attempts, the deliveries' new states and their endpoints' health, in one
    transaction. A delivery deleted while it was on its way (or its endpoint) is left out:
    there is nothing left to write its attempt to, and an attempt pointing at no delivery would
    fail the commit of the whole batch."""
    if not finished:
        return
    async with conn.transaction():
        # The log of attempts need not wait for the disk: if PostgreSQL crashed before it was
        # written, the deliveries would simply be sent again (at least once, same webhook-id).
        await conn.execute("SET LOCAL synchronous_commit TO OFF")
        # The endpoints first, FOR KEY SHARE, in one order: an endpoint being deleted
        # (services.endpoint_delete locks it before deleting anything) is waited for, and is
        # then gone, so its deliveries are left out; one not being deleted cannot be until this
        # commits, and its deleter then finds these attempts and deletes them with the rest.
        finished = await _of_endpoints_still_there(conn, finished)
        if not finished:
            return
        now = timezone.now()
        finished = await _update_deliveries(conn, finished, now)
        if not finished:
            return
        await _insert_attempts(conn, finished)
        failing = sorted({d.endpoint_id for d, o in finished if not o.succeeded})
        answering = sorted({d.endpoint_id for d, _ in finished} - set(failing))
        if answering:
            await _note_recoveries(conn, answering)
        if failing:
            last = {d.endpoint_id: o for d, o in finished if not o.succeeded}
            await _note_failures(conn, now, last)


async def _of_endpoints_still_there(conn, finished: list[tuple[Pending, Outcome]]):
    """The outcomes whose endpoint is still there, every endpoint locked FOR KEY SHARE (in id
    order) until the transaction ends."""
    endpoints = await conn.execute(
        "SELECT id FROM updates_webhookendpoint WHERE id = ANY(%s) ORDER BY id FOR KEY SHARE",
        [sorted({d.endpoint_id for d, _ in finished})],
    )
    alive = {row[0] for row in await endpoints.fetchall()}
    return [(d, o) for d, o in finished if d.endpoint_id in alive]


async def _update_deliveries(conn, finished: list[tuple[Pending, Outcome]], now):
    """Each delivery's new state (delivered, failed for good, or pending its next try); the
    outcomes of those still there."""
    states, next_at = _next_states(finished, now)
    # The update locks the deliveries and says which are still there (one deleted on its
    # own, in the admin, is left out); the attempts are written for those only.
    updated = await conn.execute(
        "UPDATE updates_webhookdelivery d "
        "SET state = v.state, attempts = d.attempts + 1, next_attempt_at = v.next_at "
        "FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[]) AS v(id, state, next_at) "
        "WHERE d.id = v.id RETURNING d.id",
        [[d.id for d, _ in finished], states, next_at],
    )
    still = {row[0] for row in await updated.fetchall()}
    return [(d, o) for d, o in finished if d.id in still]


def _next_states(finished: list[tuple[Pending, Outcome]], now) -> tuple[list, list]:
    """Each delivery's state after this attempt, and when it is tried next (a retry's wait from
    TRADENET_WEBHOOK_RETRY_SCHEDULE, jittered by a fifth either way)."""
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
    return states, next_at


async def _insert_attempts(conn, finished: list[tuple[Pending, Outcome]]) -> None:
    """The attempts' log, a row each, in one statement."""
    await conn.execute(
        "INSERT INTO updates_webhookattempt "
        "(delivery_id, attempted_at, status_code, duration_ms, response_excerpt, error) "
        "SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::int[], %s::int[], "
        "%s::text[], %s::text[])",
        [
            [d.id for d, _ in finished],
            [o.started_at for _, o in finished],
            [o.status for _, o in finished],
            [o.duration_ms for _, o in finished],
            [_text(o.excerpt) for _, o in finished],
            [_text(o.error) for _, o in finished],
        ],
    )


async def _note_recoveries(conn, answering: list[int]) -> None:
    """Endpoints that answered: no longer failing."""
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
