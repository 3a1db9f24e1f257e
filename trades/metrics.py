"""The trades' metrics (they join core.metrics.METRICS, rendered at /metrics)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter

from core.metrics import METRICS
from trades.events import TRADE_INITIATED

TRADES_CREATED = Counter(
    "tradenet_trades_created_total", "Trades created by this deployment", registry=METRICS
)


def count_trades(events: Iterable) -> None:
    """Called by the relay for every batch of events it delivers: counted once each, whichever
    server placed it."""
    created = sum(1 for event in events if event.type == TRADE_INITIATED)
    if created:
        TRADES_CREATED.inc(created)
