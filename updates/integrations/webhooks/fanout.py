"""Step 1: the event log, fanned out into one delivery per endpoint that may and wants to
receive each event (the durable queue the sender works from)."""

from __future__ import annotations

import json
import logging
import time

from django.db import close_old_connections, connection
from django.utils import timezone

from inventory.access import receivable_stations
from updates.integrations.exporters import WEBHOOKS, Exporter
from updates.integrations.webhooks.models import WebhookEndpoint
from updates.integrations.webhooks.services import wake_sender
from updates.log.eventstream import LogEntry

logger = logging.getLogger(__name__)


def _audience(endpoint: WebhookEndpoint) -> frozenset[str] | None:
    """Station codes whose events the endpoint gets (None: every station): the ones it names,
    or all its owner may receive, never beyond that (`inventory.access.receivable_stations`:
    an owner deactivated since receives nothing)."""
    return receivable_stations(
        endpoint.owner, [station.code for station in endpoint.stations.all()]
    )


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
        codes = list(entry.stations)
        stations = set(codes)
        body = entry.public_data
        for endpoint in endpoints:
            if endpoint.event_types and entry.type not in endpoint.event_types:
                continue
            audience = audience_of[endpoint.pk]
            if audience is not None and not (stations & audience):
                continue
            rows.append((endpoint.pk, str(entry.id), entry.type, body, codes))
    if rows:
        # One statement for the batch (the ORM's bulk_create took most of this thread's time),
        # its rows as one JSON document: psycopg dumps arrays of arrays element by element in
        # Python, a third of the fan-out's time; json.dumps is C.
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO updates_webhookdelivery (endpoint_id, message_id, event_type, body, "
                "stations, state, attempts, next_attempt_at, created_at) "
                "SELECT e, m, t, b, s, 'pending', 0, %s, %s "
                "FROM jsonb_to_recordset(%s::jsonb) "
                "AS r(e bigint, m text, t text, b text, s text[]) "
                "ON CONFLICT DO NOTHING",
                [now, now, json.dumps([dict(zip("emtbs", row, strict=True)) for row in rows])],
            )  # fmt: skip
        wake_sender()
    return len(rows)


class WebhookFanout(Exporter):
    name = WEBHOOKS

    def __init__(self):
        super().__init__()
        self.audiences = Audiences()

    def send(self, entries: list[LogEntry]) -> None:
        try:
            fan_out(entries, self.audiences)
        finally:
            close_old_connections()
