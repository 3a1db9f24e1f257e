"""Reads from a streaming replica (DATABASE_REPLICA_URL), never stale for the writer.

A real hot standby of a primary of the test's own, streaming, with its replay held back
(recovery_min_apply_delay) so that it is always behind the writes the test makes: the writer
still reads every one of its writes at once, other callers' lists come from the replica (seen in
the replica's own statistics), and a replica that lags too far or stops only sends reads to the
primary, without an error.
"""

from __future__ import annotations

import re
import time

import httpx
import psycopg
import pytest

from tests.helpers import post_trade, wait_for
from tests.postgres import home, own_postgres, streaming_replica
from tests.servers import server_env, superuser_token, uvicorn_server

pytestmark = pytest.mark.django_db(transaction=True)  # the servers' backends are waited for

STATIONS = ("ceres-prime", "vesta-yards")


@pytest.fixture
def primary():
    with own_postgres(STATIONS) as made:
        yield made


def second_caller(url: str) -> dict:
    """Token headers of another superuser, who has written nothing."""
    token = superuser_token(server_env(DATABASE_URL=url), "auditor", "x-audit-x-123")
    return {"Authorization": f"Token {token}"}


def replica_env(url: str, replica, redis, **extra: str) -> dict:
    # The production pool, for the replica too: how an outage of it looks in production.
    return server_env(
        DATABASE_URL=url,
        DATABASE_REPLICA_URL=replica.url,
        REDIS_URL=redis.url,
        TRADENET_DB_POOL="1",
        **extra,
    )


def reads(base: str) -> dict[tuple[str, str], float]:
    """tradenet_db_reads_total from /metrics, by (target, reason)."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    found = {}
    for target, reason, value in re.findall(
        r'^tradenet_db_reads_total\{reason="([^"]+)",target="([^"]+)"\} (\S+)$', text, re.M
    ):
        found[(reason, target)] = float(value)
    return found


def replica_trade_scans(replica) -> int:
    """How many times the replica itself scanned the trades table (its own statistics)."""
    with psycopg.connect(replica.conninfo(), autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT coalesce(sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)), 0)"
            " FROM pg_stat_user_tables WHERE relname = 'trades_trade'"
        ).fetchone()
        return int(row[0])


def test_the_writer_reads_every_write_at_once_and_others_read_from_the_replica(
    primary, private_redis
):
    server, url, writer = primary
    reader = second_caller(url)
    with (
        streaming_replica(
            server, home(server) / "replica", recovery_min_apply_delay="300ms"
        ) as replica,
        uvicorn_server(env=replica_env(url, replica, private_redis)) as app,
    ):
        scans_before = replica_trade_scans(replica)
        for _ in range(150):
            created = post_trade(app, writer, "ceres-prime", "vesta-yards")
            assert created.status_code == 201, created.text
            transaction_id = created.json()["transaction_id"]
            # The replica replays 300 ms late: only the primary has it yet.
            detail = httpx.get(f"{app}/api/trades/{transaction_id}/", headers=writer, timeout=10)
            assert detail.status_code == 200, detail.text
            listed = httpx.get(f"{app}/api/trades/?page_size=5", headers=writer, timeout=10)
            assert transaction_id in {t["transaction_id"] for t in listed.json()["results"]}
        counted = reads(app)
        # Most of the 300 reads went to the primary for being behind the caller (on a loaded
        # machine the replica has sometimes replayed in time: 296 seen).
        assert counted.get(("primary", "behind_caller"), 0) >= 250, counted
        # Another caller, who wrote nothing, reads the replica; so does the writer once the
        # replica has replayed past its last write.
        time.sleep(1)
        for headers in (reader, writer):
            listed = httpx.get(f"{app}/api/trades/?page_size=5", headers=headers, timeout=10)
            assert listed.status_code == 200 and len(listed.json()["results"]) == 5
            assert transaction_id == listed.json()["results"][0]["transaction_id"]
        assert reads(app).get(("replica", "fresh"), 0) >= 2
        assert wait_for(lambda: replica_trade_scans(replica) > scans_before, timeout=15)


def test_a_replica_too_far_behind_sends_reads_to_the_primary(primary, private_redis):
    server, url, writer = primary
    reader = second_caller(url)
    with (
        streaming_replica(
            server, home(server) / "replica", recovery_min_apply_delay="30s"
        ) as replica,
        uvicorn_server(
            env=replica_env(url, replica, private_redis, TRADENET_REPLICA_MAX_LAG_SECONDS="1")
        ) as app,
    ):
        created = post_trade(app, writer, "ceres-prime", "vesta-yards")
        assert created.status_code == 201
        time.sleep(2)  # more than the limit of 1 s behind, not 30 s
        # The reader never wrote, but the replica would show it a list 30 s old.
        listed = httpx.get(f"{app}/api/trades/", headers=reader, timeout=10)
        assert listed.status_code == 200
        assert created.json()["transaction_id"] in {
            t["transaction_id"] for t in listed.json()["results"]
        }
        assert reads(app).get(("primary", "replica_lagging"), 0) >= 1


def test_a_stopped_replica_only_sends_reads_to_the_primary(primary, private_redis):
    server, url, writer = primary
    reader = second_caller(url)
    with (
        streaming_replica(server, home(server) / "replica") as replica,
        uvicorn_server(env=replica_env(url, replica, private_redis)) as app,
    ):
        assert post_trade(app, writer, "ceres-prime", "vesta-yards").status_code == 201
        assert wait_for(
            lambda: (
                httpx.get(f"{app}/api/trades/", headers=reader, timeout=10).status_code == 200
                and reads(app).get(("replica", "fresh"), 0) >= 1
            )
        )
        replica.stop()
        for _ in range(20):
            started = time.monotonic()
            listed = httpx.get(f"{app}/api/trades/", headers=reader, timeout=10)
            assert listed.status_code == 200, listed.text
            assert len(listed.json()["results"]) == 1
            assert time.monotonic() - started < 2
        assert reads(app).get(("primary", "replica_unavailable"), 0) >= 1
        # Back: reads return to it, without a restart of the server.
        replica.start()
        fresh_before = reads(app).get(("replica", "fresh"), 0)
        assert wait_for(
            lambda: (
                httpx.get(f"{app}/api/trades/", headers=reader, timeout=10).status_code == 200
                and reads(app).get(("replica", "fresh"), 0) > fresh_before
            )
        )


def test_inside_a_replica_read_only_the_trading_tables_leave_the_primary(monkeypatch):
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.models import Session
    from knox.models import AuthToken

    from cargo.models import Cargo
    from core import replica
    from core.models import OutboxEvent
    from inventory.models import StockMovement
    from trades.models import IdempotencyRecord, Trade
    from updates.streams.models import OpenStream

    monkeypatch.setattr(replica, "replica_configured", lambda: True)
    scope = replica.ReadScope(user_id=1)
    scope.target = replica.REPLICA  # as if it had found the replica fresh
    router = replica.ReplicaRouter()
    token = replica._scope.set(scope)
    try:
        for model in (Trade, Cargo, StockMovement):
            assert router.db_for_read(model) == "replica", model
        for model in (get_user_model(), AuthToken, Session, IdempotencyRecord, OutboxEvent,
                      OpenStream):  # fmt: skip
            assert router.db_for_read(model) == "default", model
        assert router.db_for_write(Trade) == "default"
    finally:
        replica._scope.reset(token)
    assert router.db_for_read(Trade) == "default"  # outside a marked read
