"""Behind PgBouncer 1.18 in transaction mode (Debian's), with the connection roles of
docs/deployment.md#connection-roles: requests through the pooler (DATABASE_URL), session work
on a direct connection (DATABASE_DIRECT_URL). One relay active across two servers, every event
reaching a stream on the other server (LISTEN), no prepared statement clashing, and no session
setting leaking to another client of the pooler."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.db import connection

from tests.factories import CommodityFactory, StationFactory, UserFactory, give_stock
from tests.helpers import post_trade, token_header, wait_for
from tests.servers import database_url_of_tests, free_port, server_env, uvicorn_server
from tests.sse import SSEClient
from updates.log.relay import RELAY_LOCK

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not Path(PGBOUNCER).exists(),
        reason="PgBouncer is not installed: apt-get install pgbouncer (scripts/ensure-test-tools)",
    ),
]


@contextlib.contextmanager
def pgbouncer_in_front_of_the_tests(pool_size: int = 8):
    """PgBouncer in transaction mode on a free port, in front of the test database; yields its
    URL. As root it runs as the database's socket owner (it refuses to run as root)."""
    db = connection.settings_dict
    host = db["HOST"] or "127.0.0.1"
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="tradenet-pgbouncer-"))
    user = db["USER"]
    (workdir / "users.txt").write_text(f'"{user}" "{db["PASSWORD"] or ""}"\n')
    (workdir / "pgbouncer.ini").write_text(
        f"""[databases]
{db["NAME"]} = host={host} port={db["PORT"] or 5432} dbname={db["NAME"]} user={user}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {workdir}/users.txt
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 500
logfile = {workdir}/pgbouncer.log
pidfile = {workdir}/pgbouncer.pid
"""
    )
    command = [PGBOUNCER, str(workdir / "pgbouncer.ini")]
    if os.geteuid() == 0:
        owner = Path(host).stat().st_uid if host.startswith("/") else pwd.getpwnam("nobody").pw_uid
        name = pwd.getpwuid(owner).pw_name
        shutil.chown(workdir, user=name)
        for child in workdir.iterdir():
            shutil.chown(child, user=name)
        command[1:1] = ["-u", name]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"postgres://{quote(user)}@127.0.0.1:{port}/{quote(db['NAME'])}"
    try:
        assert wait_for(lambda: _answers(url), timeout=20), process.stdout.read1().decode()
        yield url
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2, prepare_threshold=None) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def active_relays() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [RELAY_LOCK & 0xFFFFFFFF],
        )
        return cursor.fetchone()[0]


def relays_at_work(a, b, headers) -> int:
    import httpx

    reports = [httpx.get(f"{s}/api/updates/status/", headers=headers, timeout=10) for s in (a, b)]
    return sum(r.json()["workers"]["outbox-relay"]["active"] for r in reports)


@pytest.fixture
def market():
    ceres = StationFactory(code="ceres-prime")
    StationFactory(code="vesta-yards")
    give_stock(ceres, CommodityFactory(code="water"), 10_000)
    return token_header(UserFactory(username="dispatch", is_superuser=True))


def test_two_servers_behind_pgbouncer_one_relay_every_event_no_prepared_statement_clash(market):
    with pgbouncer_in_front_of_the_tests() as pooled:
        env = server_env(
            DATABASE_URL=pooled,
            DATABASE_DIRECT_URL=database_url_of_tests(),
            TRADENET_DB_POOL="1",
            TRADENET_RELAY_STANDBY_SECONDS="0.5",
        )
        env.pop("REDIS_URL", None)  # between the servers: PostgreSQL's NOTIFY, on the direct URL
        with uvicorn_server(env=env) as a, uvicorn_server(env=env) as b:
            assert wait_for(lambda: active_relays() == 1, timeout=20)
            # Each server says whether its relay works: exactly one does (through the pooler,
            # a second relay handed the same server connection got the "same" lock too).
            assert wait_for(lambda: relays_at_work(a, b, market) == 1, timeout=20)
            with SSEClient(f"{b}/api/updates/real-time/", headers=market) as on_b:
                placed = []
                for _ in range(24):
                    answer = post_trade(a, market, "ceres-prime", "vesta-yards")
                    assert answer.status_code == 201, answer.text
                    placed.append(answer.json()["transaction_id"])
                seen = set()
                deadline = time.monotonic() + 60
                while seen != set(placed) and time.monotonic() < deadline:
                    seen.add(on_b.next_of("trade.initiated", timeout=30).json["transaction_id"])
                assert seen == set(placed)
            # Sampled again after the traffic: still one, the session lock held where it is.
            assert active_relays() == 1
            assert relays_at_work(a, b, market) == 1
            logs = Path(a.log_path).read_text() + Path(b.log_path).read_text()
        assert "prepared statement" not in logs
        assert "lost its database" not in logs


def test_the_projects_own_connections_prepare_nothing_and_leak_no_setting(settings):
    """Even should DATABASE_DIRECT_URL lead through the pooler by mistake: no `_pg3_0` clash
    between clients, and the readiness probe's statement timeout never reaches another one."""
    import dj_database_url

    from core.dbconn import conninfo, probe_connection

    # Two server connections for many clients: they share them, as under load.
    with pgbouncer_in_front_of_the_tests(pool_size=2) as pooled:
        settings.TRADENET_DIRECT_DATABASE = dj_database_url.parse(pooled)
        connections = [psycopg.connect(autocommit=True, **conninfo()) for _ in range(4)]
        try:
            for _ in range(8):
                for conn in connections:
                    conn.execute("SELECT %s::int + 1", [1]).fetchone()
        finally:
            for conn in connections:
                conn.close()
        for _ in range(5):
            with probe_connection() as conn:
                conn.execute("SELECT 1")
        others = [psycopg.connect(pooled, autocommit=True) for _ in range(6)]
        try:
            timeouts = {c.execute("SHOW statement_timeout").fetchone()[0] for c in others}
        finally:
            for conn in others:
                conn.close()
        assert timeouts == {"0"}
