"""No trade's transaction notifies: placing, moving and cancelling a trade commit without a
NOTIFY in them (PostgreSQL would serialise every such commit on one lock held through its
flush), read from PostgreSQL's own statement log; and the relay still hears of every commit at
once, from the wake-up sent after it (core.wakeups), with its own poll put off for minutes."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.helpers import wait_for
from tests.postgres import own_postgres
from tests.servers import server_env, uvicorn_server

# A PostgreSQL and a server of its own.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

STATIONS = ("ceres-prime", "titan")
# A record of the log begins with the prefix set below: the statement's virtual transaction id.
RECORD = re.compile(r"^(\d+/\d+)\|(?:LOG|DETAIL|ERROR|STATEMENT):\s+", re.MULTILINE)
WRITES_BUSINESS = re.compile(
    r"\b(?:INSERT INTO|UPDATE)\s+\"?(?:trades|cargo|inventory|credits)_", re.IGNORECASE
)
NOTIFIES = re.compile(r"\bNOTIFY\b|pg_notify", re.IGNORECASE)


def transactions(log: str) -> dict[str, list[str]]:
    """The statements of the log by transaction (its virtual id)."""
    found: dict[str, list[str]] = {}
    starts = list(RECORD.finditer(log))
    for record, following in zip(starts, [*starts[1:], None], strict=True):
        text = log[record.end() : following.start() if following else len(log)]
        found.setdefault(record.group(1), []).append(text)
    return found


def outbox_rows(url: str) -> int:
    with psycopg.connect(url.replace("postgres://", "postgresql://")) as db:
        return db.execute("SELECT count(*) FROM tradenet_outbox").fetchone()[0]


def test_placing_moving_and_cancelling_a_trade_notify_nothing_in_their_transactions():
    with own_postgres(STATIONS) as (server, url, headers):
        with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as db:
            db.execute("ALTER SYSTEM SET log_statement = 'all'")
            db.execute("ALTER SYSTEM SET log_line_prefix = '%v|'")
            db.execute("SELECT pg_reload_conf()")
        log_file = Path(server.pgdata) / "log"
        start = log_file.stat().st_size
        # The relay's own poll put off: only a wake-up can bring it to the rows in time.
        env = server_env(DATABASE_URL=url, TRADENET_RELAY_POLL_SECONDS="600")
        with uvicorn_server(env=env) as app:
            assert wait_for(lambda: outbox_rows(url) == 0, timeout=30)
            trade = {
                "seller": "ceres-prime",
                "buyer": "titan",
                "items": [{"commodity": "water", "quantity": 1, "unit_price": "1.00"}],
            }
            placed = httpx.post(f"{app}/api/trades/", json=trade, headers=headers, timeout=30)
            assert placed.status_code == 201, placed.text
            assert wait_for(lambda: outbox_rows(url) == 0, timeout=10)
            shipment = placed.json()["cargo"]["shipment_id"]
            moved = httpx.patch(
                f"{app}/api/cargo/{shipment}/", json={"status": "in_transit"}, headers=headers,
                timeout=30,
            )  # fmt: skip
            assert moved.status_code == 200, moved.text
            second = httpx.post(f"{app}/api/trades/", json=trade, headers=headers, timeout=30)
            cancelled = httpx.post(
                f"{app}/api/trades/{second.json()['transaction_id']}/cancel/", json={},
                headers=headers, timeout=30,
            )  # fmt: skip
            assert cancelled.status_code == 200, cancelled.text
            assert wait_for(lambda: outbox_rows(url) == 0, timeout=10)
        time.sleep(0.5)  # the logger's last lines
        with log_file.open() as log:
            log.seek(start)
            written = log.read()

    business = {
        xid: statements
        for xid, statements in transactions(written).items()
        if any(WRITES_BUSINESS.search(statement) for statement in statements)
    }
    # Two placed, one moved, one cancelled (the log was read, not found empty).
    assert len(business) >= 4, written[-2000:]
    notifying = {
        xid: statements
        for xid, statements in business.items()
        if any(NOTIFIES.search(statement) for statement in statements)
    }
    assert notifying == {}
