"""Server-Sent Events, served straight on the event loop.

Django's request cycle would hold a thread for every open stream (sync signal receivers run on
a per-request thread for the whole response). Streams are long and many, so their routes are
answered here, in front of Django: no thread and no database connection per client. Database
work goes through `dbthreads`; events come from the per-process `hub`.

Routes (GET): /api/updates/real-time/, /api/updates/stations/{code}/,
/api/updates/cargo/{shipment_id}/ — with or without the trailing slash.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import signal
import threading
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from django.conf import settings

from inventory.access import acts_for_all_stations
from updates.streams import dbthreads, grip, sequence
from updates.streams.hub import ReplayReset, events_after, hub
from updates.streams.limits import claim_stream, release_stream
from updates.streams.metrics import PUSHPIN_RECOVERIES
from updates.streams.scopes import Credential, StreamRefused, authenticate, reopen, resolve

logger = logging.getLogger(__name__)

ROUTES = [
    (re.compile(r"^/api/updates/real-time/?$"), "all"),
    (re.compile(r"^/api/updates/stations/(?P<key>[A-Za-z0-9_-]{1,64})/?$"), "station"),
    (re.compile(r"^/api/updates/cargo/(?P<key>[A-Za-z0-9_-]{1,64})/?$"), "shipment"),
    # Pushpin's requests for what a held stream missed (updates/streams/sequence.py).
    (re.compile(r"^/api/updates/pushpin-next/?$"), "pushpin-next"),
]
KEEPALIVE = b": keep-alive\n\n"
RESUME_WAIT_ROUNDS = 60  # of 50 ms
# A Pushpin recovery reads up to this many times TRADENET_SSE_REPLAY_LIMIT events of the log
# for its stream's scope (sequence.recovered_events): at the benchmark's 400 events a second,
# a recovery may come 50 s after its hold and still replay, not reset.
RECOVERY_PAGES = 20
OPENING = b"retry: 2000\n: stream open\n\n"
STREAM_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-store, no-transform"),
    (b"x-accel-buffering", b"no"),  # nginx and friends: do not buffer the stream
    (b"x-content-type-options", b"nosniff"),
]


def match(path: str) -> tuple[str, str | None] | None:
    for pattern, kind in ROUTES:
        found = pattern.match(path)
        if found:
            return kind, found.groupdict().get("key")
    return None


async def json_response(send, status: int, body: dict, extra_headers=()) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), *extra_headers]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class BadLastEventId(ValueError):
    """A `lastEventId` parameter that is no event id: the caller's mistake, a 400 naming it."""


def last_event_id(headers: dict[bytes, bytes], query: dict[str, list[str]]) -> int | None:
    """From the Last-Event-ID header, or the lastEventId parameter (the live page's own resume
    point, or a hand-made URL). An id is ASCII digits (isdigit() also takes "²", which int()
    refuses), optionally after django-eventstream's "all:" form. A header that is no id is
    ignored like a missing one: EventSource sends it by itself, and gives up for good on an
    answer other than 200. A parameter that is no id is a BadLastEventId."""
    raw = headers.get(b"last-event-id", b"").decode("latin-1").strip()
    if raw:
        return _event_id(raw)
    given = next((v for v in reversed(query.get("lastEventId", [])) if v.strip()), "")
    if not given:
        return None
    found = _event_id(given.strip())
    if found is None:
        raise BadLastEventId("lastEventId: an event id is a whole number in ASCII digits.")
    return found


def _event_id(raw: str) -> int | None:
    raw = raw.rsplit(":", 1)[-1]  # also accept django-eventstream's "all:42" form
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None


async def serve_stream(scope, receive, send, kind: str, key: str | None) -> None:
    if scope["method"] not in ("GET", "HEAD"):
        await json_response(
            send, 405, {"message": "Use GET.", "code": "method_not_allowed"}, [(b"allow", b"GET")]
        )
        return
    headers = dict(scope["headers"])
    if kind == "pushpin-next":
        await serve_pushpin_next(scope, send, headers)
        return
    admitted = await _admitted(scope, send, headers, kind, key)
    if admitted is None:
        return
    user, stream_scope, resume_from = admitted
    if grip.is_proxied(headers):
        await hand_to_pushpin(send, kind, key, stream_scope, user, resume_from, OPENING)
        return
    place = await dbthreads.run(claim_stream, user.pk)
    if place is None:
        await json_response(
            send,
            429,
            {"message": f"You have {settings.TRADENET_SSE_MAX_STREAMS_PER_USER} streams open "
                        "already; close one first.", "code": "too_many_streams"},
            [(b"retry-after", str(int(settings.TRADENET_SSE_KEEPALIVE_SECONDS)).encode())],
        )  # fmt: skip
        return
    await _serve_from_hub(scope, receive, send, stream_scope, user, place, resume_from)


async def _admitted(scope, send, headers, kind: str, key: str | None):
    """Who asks, for which stream, from where: (user, the stream's scope, the id to resume
    after); None when the request is refused, the refusal answered (401, the scope's, 400)."""
    cookies = SimpleCookie()
    try:
        cookies.load(headers.get(b"cookie", b"").decode("latin-1"))
    except Exception:  # a malformed cookie header is simply no session
        cookies = SimpleCookie()
    session = cookies.get(settings.SESSION_COOKIE_NAME)
    authorization = headers.get(b"authorization", b"").decode("latin-1") or None
    user = await dbthreads.run(authenticate, authorization, session.value if session else None)
    if user is None:
        await json_response(
            send,
            401,
            {"message": "Sign in: send `Authorization: Token <token>` or a session cookie.",
             "code": "not_authenticated"},
            [(b"www-authenticate", b"Token")],
        )  # fmt: skip
        return None
    try:
        stream_scope = await dbthreads.run(resolve, user, kind, key)
    except StreamRefused as refused:
        await json_response(
            send, refused.status, {"message": refused.message, "code": refused.code}
        )
        return None

    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    try:
        resume_from = last_event_id(headers, query)
    except BadLastEventId as bad:
        message = str(bad)
        await json_response(
            send,
            400,
            {"message": message, "code": "invalid", "errors": {"lastEventId": [message]}},
        )
        return None
    return user, stream_scope, resume_from


async def _serve_from_hub(scope, receive, send, stream_scope, user, place, resume_from) -> None:
    """The stream served here, from this process's hub, holding `place` (one of the user's
    open streams) until it ends, and releasing it then."""
    try:
        await hub.ensure_started()
        # Before any replay, so nothing slips; the credential is re-checked while it lasts.
        subscriber = hub.subscribe(stream_scope, getattr(user, "stream_credential", None))
        subscriber.place = place
    except BaseException:
        await dbthreads.run(release_stream, place)
        raise
    watcher = asyncio.get_running_loop().create_task(_watch_disconnect(receive, subscriber))
    try:
        await send({"type": "http.response.start", "status": 200, "headers": STREAM_HEADERS})
        await send({"type": "http.response.body", "body": OPENING, "more_body": True})
        if scope["method"] == "HEAD":
            return
        sent_up_to = await _replay(send, subscriber, resume_from)
        await _stream(send, subscriber, sent_up_to)
    finally:
        hub.unsubscribe(subscriber)
        watcher.cancel()
        with contextlib.suppress(Exception):  # unreleased, it stops counting once stale
            await dbthreads.run(release_stream, place)
        with contextlib.suppress(Exception):  # the client may be gone already
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _watch_disconnect(receive, subscriber) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            subscriber.close()
            return


async def _replay(send, subscriber, resume_from: int | None) -> int:
    """Send what a reconnecting client missed; return the last id it has (for a new client,
    the last event delivered before it subscribed)."""
    if resume_from is None:
        return subscriber.start_id
    body, last_id = await replay_body(subscriber.scope, resume_from)
    if body:
        await send({"type": "http.response.body", "body": body, "more_body": True})
    return last_id


async def replay_body(scope, resume_from: int | None, up_to: int | None = None):
    """The frames a client resuming after `resume_from` missed, up to `up_to` if given (or a
    stream-reset), and the last id they bring it to."""
    if resume_from is None:
        return b"", 0
    limit = settings.TRADENET_SSE_REPLAY_LIMIT
    try:
        if up_to is None:
            missed = await dbthreads.run(events_after, resume_from, limit)
        else:  # a hold through Pushpin: the scope's events up to what Pushpin was given
            missed = await dbthreads.run(
                sequence.recovered_events, scope, resume_from, up_to, limit, RECOVERY_PAGES
            )
    except ReplayReset as reset:
        data = json.dumps(
            {
                "reason": "The events you missed are no longer all available; reload state.",
                "last_event_id": reset.current_id,
            }
        )
        frame = f"id: {reset.current_id}\nevent: stream-reset\ndata: {data}\n\n"
        return frame.encode(), reset.current_id
    body = b"".join(e.frame for e in missed if scope.allows(e.stations, e.shipment_id))
    return body, (missed[-1].id if missed else resume_from)


async def hand_to_pushpin(send, kind, key, stream_scope, user, resume_from, opening) -> None:
    """Answer once, with the replay up to what was published to Pushpin, and let Pushpin hold
    the connection on our channels, each following its last published event."""
    channels = grip.channels_for(kind, stream_scope, user)
    sequenced = [c for c in channels if c != grip.revoke_channel(user.pk)]
    high, prev_ids = await dbthreads.run(sequence.positions, sequenced)
    # Resuming from an event not yet published to Pushpin (it was read from the log or a
    # server's own stream a moment before the relay published it): follow the channels from
    # there, or Pushpin would send it again. The relay is that far behind for milliseconds.
    for _ in range(RESUME_WAIT_ROUNDS):
        if resume_from is None or high >= resume_from:
            break
        await asyncio.sleep(0.05)
        high, prev_ids = await dbthreads.run(sequence.positions, sequenced)
    body, _ = await replay_body(stream_scope, resume_from, up_to=high)
    # Resuming past the mark (an id from a server's own stream): recover from there, not before.
    after = max(high, resume_from or 0)
    link = grip.next_link(user.stream_credential, kind, key, after)
    headers = [*STREAM_HEADERS, *grip.hold_headers(channels, prev_ids, link)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": opening + body})


async def serve_pushpin_next(scope, send, headers) -> None:
    """Pushpin asking what a held stream missed: the link's credential is checked again (a
    revoked one ends the stream), then the missed events and a new hold."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    link = grip.read_link(query.get("link", [""])[-1]) if grip.is_proxied(headers) else None
    if link is None:
        PUSHPIN_RECOVERIES.labels("refused").inc()
        await json_response(send, 404, {"message": "Not found.", "code": "not_found"})
        return
    credential = Credential(link["u"], link["c"], link["s"])
    try:
        reopened = await dbthreads.run(reopen, credential, link["k"], link["key"])
    except StreamRefused as refused:
        reopened = None
        logger.info("held stream of user %s ends: %s", credential.user_id, refused.message)
    if reopened is None:
        PUSHPIN_RECOVERIES.labels("signed_out").inc()
        await json_response(send, 403, {"message": "Signed out.", "code": "not_authenticated"})
        return
    PUSHPIN_RECOVERIES.labels("held").inc()
    user, stream_scope = reopened
    # Where the stream is: the hold it follows replayed everything up to the link's position,
    # and Pushpin delivered its channel gap-free from there up to Grip-Last's id. Grip-Last
    # alone is the channel's last event, which for a quiet station can be far behind the log:
    # resuming from it read more than a replay may hold and answered stream-reset, the missed
    # events never sent (one sequenced channel per stream: grip.channels_for).
    delivered = grip.last_ids(headers.get(b"grip-last", b"").decode("latin-1"))
    after = max([link["after"], *delivered])
    await hand_to_pushpin(send, link["k"], link["key"], stream_scope, user, after, b"")


async def _stream(send, subscriber, sent_up_to: int) -> None:
    while not subscriber.closed:
        await subscriber.wake.wait()
        subscriber.wake.clear()
        if subscriber.closed:
            return
        if subscriber.keepalive_due and not subscriber.pending and not subscriber.lagging:
            subscriber.keepalive_due = False
            await send({"type": "http.response.body", "body": KEEPALIVE, "more_body": True})
            continue
        subscriber.keepalive_due = False
        if subscriber.generation != hub.generation:
            # The log's ids restarted: what we sent belonged to the old sequence.
            subscriber.generation = hub.generation
            sent_up_to = 0
        if subscriber.lagging:
            subscriber.lagging = False
            subscriber.pending.clear()
            sent_up_to = await _replay(send, subscriber, sent_up_to)
            continue
        chunks = []
        while subscriber.pending:
            event = subscriber.pending.popleft()
            if event.id > sent_up_to:
                chunks.append(event.frame)
                sent_up_to = event.id
        if chunks:
            await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": True})


def stream_stats() -> dict:
    """What the process holds for streaming: for /metrics, tests and the benchmark."""
    return {
        "clients": len(hub),
        "tasks": len(asyncio.all_tasks()),
        "threads": threading.active_count(),
    }


async def serve_status(scope, receive, send, extra=dict) -> None:
    """/api/updates/status/, for dispatch staff: what this process holds for streaming, and
    what `extra()` adds (the background workers it runs, which of them are active)."""
    headers = dict(scope["headers"])
    authorization = headers.get(b"authorization", b"").decode("latin-1") or None
    user = await dbthreads.run(authenticate, authorization, None)
    if user is None or not await dbthreads.run(acts_for_all_stations, user):
        await json_response(send, 403, {"message": "Dispatch staff only.", "code": "forbidden"})
        return
    await json_response(send, 200, {**stream_stats(), **extra()})


def end_streams_on_shutdown_signals(loop) -> None:
    """End every stream as soon as the server is told to stop.

    The server waits for open responses before it shuts down, and a stream never ends by
    itself: without this, every shutdown would wait out its whole grace period and then cut
    the streams. Clients reconnect (to another replica) and resume with Last-Event-ID.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)

        def on_signal(number, frame, previous=previous):
            loop.call_soon_threadsafe(hub.close_all)
            if callable(previous):
                previous(number, frame)

        signal.signal(signum, on_signal)
