"""The streams' metrics (they join core.metrics.METRICS, rendered at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from core.metrics import METRICS

SSE_CLIENTS = Gauge(
    "tradenet_sse_clients_connected",
    "Event-stream clients connected",
    multiprocess_mode="livesum",
    registry=METRICS,
)
# Redis is optional and only an accelerator (events also travel through PostgreSQL NOTIFY), so
# its state is a figure to watch, not a reason to take a replica out of service.
EVENT_TRANSPORT_UP = Gauge(
    "tradenet_event_transport_up",
    "1 while every server process is subscribed to the transport (0: events reach it from "
    "PostgreSQL instead)",
    ["transport"],
    multiprocess_mode="livemin",
    registry=METRICS,
)
EVENTS_RECEIVED = Counter(
    "tradenet_events_received_total",
    "Events this deployment's server processes received from a transport",
    ["transport"],
    registry=METRICS,
)
PUSHPIN_RECOVERIES = Counter(
    "tradenet_pushpin_recoveries_total",
    "Pushpin's requests for what a held stream missed (its next links), by outcome",
    ["outcome"],
    registry=METRICS,
)
