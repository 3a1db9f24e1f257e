"""Signed webhooks: the committed events of an operator's stations, POSTed to their endpoints.

Two steps, both in every server process, each active in one per deployment:

1. `WebhookFanout`, an exporter (`updates.exporters`): reads the event log after its position
   and writes one `WebhookDelivery` per matching endpoint, then advances the position. The rows
   are the durable queue: a crash before the position moved writes them again, and the unique
   (endpoint, message id) keeps one.
2. `WebhookSender`: POSTs due deliveries on a pool of threads, one at a time per endpoint and
   in the log's order (a receiver that was down catches up in order), endpoints side by side,
   so one slow or dead endpoint never holds up the others or the relay. Each attempt
   is logged; a failure is retried on TRADENET_WEBHOOK_RETRY_SCHEDULE (with jitter); an
   endpoint with no success for TRADENET_WEBHOOK_DISABLE_AFTER_HOURS is disabled, and says why.

Signatures follow the Standard Webhooks specification (`standardwebhooks`): `webhook-id` is the
stream's event id (and the RabbitMQ `message_id`), `webhook-timestamp`, and `webhook-signature`
with one `v1,` HMAC-SHA256 per valid secret (two during a rotation's overlap).
"""

from __future__ import annotations

import base64
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from inventory.access import station_access
from inventory.models import Station

from .eventstream import LogEntry
from .exporters import Exporter
from .hub import public_data
from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .singleton import SingletonWorker

logger = logging.getLogger(__name__)

TEST_EVENT = "webhook.test"
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


def endpoint_create(*, owner, url: str, event_types: list[str], stations, is_active=True):
    """Register an endpoint; returns it and its secret, shown this once."""
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
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        message_id=f"test-{uuid.uuid4().hex}",
        event_type=TEST_EVENT,
        body=body,
        next_attempt_at=timezone.now(),
    )


def redeliver(*, delivery: WebhookDelivery) -> None:
    delivery.state = WebhookDelivery.State.PENDING
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["state", "next_attempt_at"])


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


def fan_out(entries: list[LogEntry]) -> int:
    """Write a delivery for every (event, endpoint that wants it); returns how many."""
    endpoints = list(
        WebhookEndpoint.objects.filter(is_active=True)
        .select_related("owner")
        .prefetch_related("stations")
    )
    if not endpoints:
        return 0
    audiences = {endpoint.pk: _audience(endpoint) for endpoint in endpoints}
    now = timezone.now()
    rows = []
    for entry in entries:
        envelope = json.loads(entry.data)
        stations = set(envelope.get("stations") or ())
        body = public_data(envelope)
        for endpoint in endpoints:
            if endpoint.event_types and entry.type not in endpoint.event_types:
                continue
            audience = audiences[endpoint.pk]
            if audience is not None and not (stations & audience):
                continue
            rows.append(
                WebhookDelivery(
                    endpoint=endpoint,
                    message_id=str(entry.id),
                    event_type=entry.type,
                    body=body,
                    next_attempt_at=now,
                )
            )
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


class WebhookFanout(Exporter):
    name = "webhooks"

    def send(self, entries: list[LogEntry]) -> None:
        try:
            fan_out(entries)
        finally:
            close_old_connections()


# Step 2: sending


def sign_headers(endpoint: WebhookEndpoint, message_id: str, body: str) -> dict[str, str]:
    from standardwebhooks import Webhook

    now = timezone.now()
    sealed = [endpoint.secret_sealed]
    if endpoint.previous_secret_sealed and (endpoint.previous_secret_until or now) > now:
        sealed.append(endpoint.previous_secret_sealed)
    signatures = [Webhook(unseal(s)).sign(message_id, now, body) for s in sealed]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
        "user-agent": "TradeNet-Webhooks/1",
    }


_clients = threading.local()


def _client():
    """This sender thread's HTTP client: connections to an endpoint are kept alive between
    its deliveries (a busy endpoint gets hundreds a second)."""
    import httpx

    if getattr(_clients, "client", None) is None:
        _clients.client = httpx.Client(follow_redirects=False)
    return _clients.client


def drain(endpoint_id: int, limit: int = 500) -> None:
    """Deliver an endpoint's due deliveries, oldest first, until one fails (it waits for its
    retry, and the later ones behind it) or none is due (runs on a sender thread). Outcomes are
    written for up to 50 POSTs at a time: a crash before they are written means those are sent
    again, with the same webhook-id (at least once)."""
    try:
        sent = 0
        while sent < limit:
            batch = list(
                WebhookDelivery.objects.select_related("endpoint")
                .filter(endpoint_id=endpoint_id, state=WebhookDelivery.State.PENDING)
                .order_by("id")[:50]
            )
            outcomes = []
            for delivery in batch:
                if delivery.next_attempt_at > timezone.now() or not delivery.endpoint.is_active:
                    break
                outcome = post(delivery)
                outcomes.append((delivery, outcome))
                if not outcome.succeeded:
                    break
            if outcomes:
                record(outcomes)
                sent += len(outcomes)
            if len(outcomes) < len(batch) or not outcomes or not outcomes[-1][1].succeeded:
                return
    except Exception:
        logger.exception("webhook deliveries of endpoint %s failed unexpectedly", endpoint_id)
    finally:
        close_old_connections()


@dataclass(frozen=True)
class Outcome:
    status: int | None
    duration_ms: int
    excerpt: str
    error: str

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(delivery: WebhookDelivery) -> Outcome:
    """POST one delivery, signed; what came back."""
    import httpx

    endpoint = delivery.endpoint
    status, excerpt, error = None, "", ""
    started = time.monotonic()
    try:
        check_target(endpoint.url)  # again: what a name resolves to can change
        answer = _client().post(
            endpoint.url,
            content=delivery.body.encode(),
            headers=sign_headers(endpoint, delivery.message_id, delivery.body),
            timeout=settings.TRADENET_WEBHOOK_TIMEOUT_SECONDS,
            follow_redirects=False,
        )
        status, excerpt = answer.status_code, answer.text[:EXCERPT]
    except (httpx.HTTPError, RefusedTarget, OSError) as exc:
        error = f"{exc.__class__.__name__}: {exc}"[:EXCERPT]
    except Exception as exc:  # e.g. a secret sealed under another SECRET_KEY
        logger.exception("webhook delivery %s could not be sent", delivery.pk)
        error = f"{exc.__class__.__name__}: {exc}"[:EXCERPT]
    return Outcome(status, int((time.monotonic() - started) * 1000), excerpt, error)


@transaction.atomic
def record(outcomes: list[tuple[WebhookDelivery, Outcome]]) -> None:
    """Write the attempts and the deliveries' new states, in one transaction."""
    # The log of attempts need not wait for the disk: if PostgreSQL crashed before it was
    # written, the deliveries would simply be sent again (at least once, same webhook-id).
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
    WebhookAttempt.objects.bulk_create(
        WebhookAttempt(
            delivery=delivery,
            status_code=outcome.status,
            duration_ms=outcome.duration_ms,
            response_excerpt=outcome.excerpt,
            error=outcome.error,
        )
        for delivery, outcome in outcomes
    )
    now = timezone.now()
    schedule = settings.TRADENET_WEBHOOK_RETRY_SCHEDULE
    for delivery, outcome in outcomes:
        delivery.attempts += 1
        if outcome.succeeded:
            delivery.state, delivery.next_attempt_at = WebhookDelivery.State.DELIVERED, None
        elif delivery.attempts > len(schedule):
            delivery.state, delivery.next_attempt_at = WebhookDelivery.State.FAILED, None
        else:
            wait = schedule[delivery.attempts - 1] * random.uniform(0.8, 1.2)
            delivery.next_attempt_at = now + timedelta(seconds=wait)
    WebhookDelivery.objects.bulk_update(
        [delivery for delivery, _ in outcomes], ["state", "attempts", "next_attempt_at"]
    )
    endpoint, last = outcomes[-1][0].endpoint, outcomes[-1][1]
    if last.succeeded:
        if endpoint.failing_since is not None:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
    else:
        _note_failure(endpoint, now, last.status, last.error)


def _note_failure(endpoint, now, status, error) -> None:
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if endpoint.failing_since is None:
        endpoint.failing_since = now
        endpoint.save(update_fields=["failing_since"])
        return
    limit = timedelta(hours=settings.TRADENET_WEBHOOK_DISABLE_AFTER_HOURS)
    if endpoint.is_active and now - endpoint.failing_since > limit:
        last = f"HTTP {status}" if status is not None else error
        endpoint.is_active = False
        endpoint.disabled_reason = (
            f"Disabled {now:%Y-%m-%d %H:%M} UTC: no successful delivery since "
            f"{endpoint.failing_since:%Y-%m-%d %H:%M} UTC (last answer: {last})."
        )[:500]
        endpoint.save(update_fields=["is_active", "disabled_reason"])
        logger.warning("webhook endpoint %s disabled: %s", endpoint.pk, endpoint.disabled_reason)


# Each endpoint's next delivery: its oldest pending one. Deliveries go out one at a time per
# endpoint, in the log's order, so a receiver that was down catches up in order; different
# endpoints go out side by side, so one slow endpoint holds up only itself.
HEADS = """
SELECT id, endpoint_id FROM (
    SELECT DISTINCT ON (d.endpoint_id) d.id, d.endpoint_id, d.next_attempt_at
    FROM updates_webhookdelivery d
    JOIN updates_webhookendpoint e ON e.id = d.endpoint_id AND e.is_active
    WHERE d.state = 'pending'
    ORDER BY d.endpoint_id, d.id
) heads
WHERE next_attempt_at <= now()
ORDER BY next_attempt_at
LIMIT 500
"""


class WebhookSender(SingletonWorker):
    """POSTs each endpoint's next due delivery on a pool of threads."""

    lock_key = 0x5457484B  # "TWHK"
    thread_name = "webhook-sender"
    application_name = "tradenet-webhook-sender"

    def serve(self, conn) -> None:
        in_flight: set[int] = set()  # endpoints with a delivery on its way
        lock = threading.Lock()

        def done(endpoint_id):
            with lock:
                in_flight.discard(endpoint_id)

        with ThreadPoolExecutor(settings.TRADENET_WEBHOOK_WORKERS, "webhook") as pool:
            while not self.stopping.is_set():
                due = conn.execute(HEADS).fetchall()
                with lock:
                    for _head, endpoint_id in due:
                        if endpoint_id in in_flight:
                            continue
                        if len(in_flight) >= settings.TRADENET_WEBHOOK_WORKERS:
                            break
                        in_flight.add(endpoint_id)
                        pool.submit(drain, endpoint_id).add_done_callback(
                            lambda _, e=endpoint_id: done(e)
                        )
                self.stopping.wait(0.2)


def configured() -> list[SingletonWorker]:
    return [WebhookFanout(), WebhookSender()]
