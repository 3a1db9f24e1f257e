"""Crashes and outages never cost a committed trade its events.

Live server processes started by the production start script, trades in flight from many
threads, kill -9 of every server process; a relay killed while another process stands by;
PostgreSQL restarted and away (Redis outages: tests/updates/streams/test_redis_fanout.py).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
import time
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest
from django.db import connection

from cargo.models import Cargo
from inventory.models import StockMovement
from tests.helpers import assert_ledger_matches_levels, post_trade, wait_for
from tests.postgres import own_postgres as own_postgres_server
from tests.postgres import pg_ctl
from tests.servers import ROOT, free_port, server_env, start_script_settings, uvicorn_server
from tests.sse import SSEClient
from trades.models import Trade
from updates.log.relay import RELAY_LOCK

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

STATIONS = ("ceres-prime", "vesta-yards", "titan", "luna-gateway")


@contextmanager
def production_server(tmp_path, port: int, **extra: str):
    """deploy/start.sh on the test database, in a process group of its own (so that kill -9
    reaches the master and every worker). Yields the process."""
    env = server_env(
        **start_script_settings(port, tmp_path / f"metrics-{port}"),
        TRADENET_SSE_REPLAY_LIMIT="100000",
        **extra,
    )
    env.pop("DJANGO_SETTINGS_MODULE")  # production settings: static files gathered by the script
    log = open(tmp_path / f"server-{port}.log", "a+")  # noqa: SIM115
    server = subprocess.Popen(
        ["bash", "deploy/start.sh"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, (tmp_path / f"server-{port}.log").read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)
        yield server
    finally:
        with suppress(ProcessLookupError):  # killed by the test already
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)
        log.close()


def kill_everything(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGKILL)
    server.wait(10)


def trade_load(base: str, headers: dict, stop: threading.Event, answered: list, threads=8):
    """Threads posting one-line trades between the stations until `stop`; 201s recorded."""

    def post_until_stopped(number: int) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
            turn = number
            while not stop.is_set():
                seller, buyer = STATIONS[turn % 4], STATIONS[(turn + 1 + number % 3) % 4]
                turn += 1
                body = {
                    "seller": seller,
                    "buyer": buyer,
                    "items": [{"commodity": "water", "quantity": 1, "unit_price": "1.00"}],
                }
                try:
                    response = client.post("/api/trades/", json=body)
                except httpx.HTTPError:
                    time.sleep(0.05)  # the server is gone: keep trying until told to stop
                    continue
                if response.status_code == 201:
                    answered.append(response.json()["transaction_id"])

    workers = [threading.Thread(target=post_until_stopped, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    return workers


def killed_under_load(tmp_path, port: int, headers: dict, rounds: int) -> list[str]:
    """`rounds` times: the production server under trade load, killed with -9 once 30 more
    trades were answered. The transaction ids answered 201."""
    answered: list[str] = []
    for _ in range(rounds):
        with production_server(tmp_path, port) as server:
            stop = threading.Event()
            workers = trade_load(f"http://127.0.0.1:{port}", headers, stop, answered)
            deadline = time.monotonic() + 60
            before = len(answered)
            while len(answered) < before + 30 and time.monotonic() < deadline:
                time.sleep(0.05)
            kill_everything(server)  # trades in flight, events waiting in the outbox
            stop.set()
            for worker in workers:
                worker.join(30)
    return answered


def replayed_trades(base: str, headers: dict, expected: set[str], timeout: float = 90) -> list:
    """Every trade.initiated the stream has from the beginning (Last-Event-ID: 0), read until
    `expected` are all there or `timeout` passes."""
    seen: list[str] = []
    with SSEClient(
        f"{base}/api/updates/real-time/", headers={**headers, "Last-Event-ID": "0"}
    ) as s:
        assert s.status == 200
        deadline = time.monotonic() + timeout
        while not expected <= set(seen) and time.monotonic() < deadline:
            try:
                message = s.next_of("trade.initiated", timeout=2)
            except Exception:
                continue
            seen.append(message.json["transaction_id"])
    return seen


def assert_every_trade_whole() -> None:
    for trade in Trade.objects.prefetch_related("lines"):
        assert trade.placed_at is not None, trade
        assert Cargo.objects.filter(trade=trade).exists(), trade
        assert StockMovement.objects.filter(trade=trade).count() == 2 * len(trade.lines.all())
    assert_ledger_matches_levels()


def test_kill_9_under_load_loses_no_committed_trade_and_no_event(market, tmp_path):
    port = free_port()
    answered = killed_under_load(tmp_path, port, market, rounds=3)
    assert len(answered) >= 90

    assert_every_trade_whole()
    committed = set(Trade.objects.values_list("transaction_id", flat=True))
    assert set(answered) <= committed  # every 201 is a committed trade

    with production_server(tmp_path, port):
        seen = replayed_trades(f"http://127.0.0.1:{port}", market, committed)
    assert set(seen) == committed, f"{len(committed - set(seen))} committed trades lost events"
    assert len(seen) == len(set(seen))  # and none twice


def relay_holder() -> str | None:
    """The application_name of the connection holding the relay's advisory lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.objid = %s AND l.granted "
            # This database's relay only: `make run` may share the embedded cluster.
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [RELAY_LOCK & 0xFFFFFFFF],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def test_a_standby_relay_takes_over_when_the_active_one_is_killed(market):
    env = server_env(TRADENET_RELAY_STANDBY_SECONDS="0.5")
    with uvicorn_server(env=env) as first, uvicorn_server(env=env) as second:
        assert wait_for(lambda: relay_holder() is not None)
        servers = {first.application_name: first, second.application_name: second}
        active = servers[relay_holder()]
        standby = second if active is first else first

        os.kill(active.pid, signal.SIGKILL)
        assert wait_for(lambda: relay_holder() == standby.application_name), relay_holder()

        with SSEClient(f"{standby}/api/updates/real-time/", headers=market) as stream:
            created = post_trade(standby, market, "ceres-prime", "titan")
            assert created.status_code == 201
            seen = stream.next_of("trade.initiated", timeout=30).json
            assert seen["transaction_id"] == created.json()["transaction_id"]


@pytest.fixture
def own_postgres():
    """A PostgreSQL of the test's own, which the test may restart (tests/postgres.py)."""
    with own_postgres_server(STATIONS) as made:
        yield made


def test_a_postgresql_restart_under_load_loses_no_committed_event(own_postgres):
    import psycopg

    server, url, headers = own_postgres
    answered: list[str] = []
    with uvicorn_server(
        env=server_env(DATABASE_URL=url, TRADENET_SSE_REPLAY_LIMIT="100000")
    ) as app:
        stop = threading.Event()
        workers = trade_load(app, headers, stop, answered, threads=6)
        assert wait_for(lambda: len(answered) >= 20)
        # The options it was started with (socket directory, no TCP), to start it the same way.
        options = shlex.split((Path(server.pgdata) / "postmaster.opts").read_text())[1:]
        options = [o for i, o in enumerate(options) if "-D" not in (o, options[i - 1])]
        pg_ctl(server, "stop", "-m", "fast")  # connections cut, trades in flight fail
        time.sleep(2)
        pg_ctl(server, "start", "-o", shlex.join(options), "-l", str(Path(server.pgdata) / "log"))
        before = len(answered)
        assert wait_for(lambda: len(answered) >= before + 20, timeout=60)  # it recovers
        stop.set()
        for worker in workers:
            worker.join(30)

        with psycopg.connect(url.replace("postgres://", "postgresql://")) as db:
            committed = {row[0] for row in db.execute("SELECT transaction_id FROM trades_trade")}
        assert set(answered) <= committed
        seen = replayed_trades(app, headers, committed)
    assert set(seen) == committed, f"{len(committed - set(seen))} committed trades lost events"
    assert len(seen) == len(set(seen))


def test_while_postgresql_is_away_requests_answer_503_quickly_and_all_recovers(own_postgres):
    server, url, headers = own_postgres
    body = {
        "seller": "ceres-prime",
        "buyer": "titan",
        "items": [{"commodity": "water", "quantity": 1, "unit_price": "1.00"}],
    }
    # The production configuration: the psycopg pool on.
    env = server_env(DATABASE_URL=url, TRADENET_DB_POOL="1")
    with uvicorn_server(env=env) as app:
        assert httpx.post(f"{app}/api/trades/", json=body, headers=headers, timeout=10).is_success
        session = admin_session(app, "staff", "x-staff-x-123")
        assert httpx.get(f"{app}/admin/", cookies=session, timeout=10).status_code == 200
        options = shlex.split((Path(server.pgdata) / "postmaster.opts").read_text())[1:]
        options = [o for i, o in enumerate(options) if "-D" not in (o, options[i - 1])]
        pg_ctl(server, "stop", "-m", "fast")
        try:
            for method, path in (("POST", "/api/trades/"), ("GET", "/api/trades/")):
                started = time.monotonic()
                answer = httpx.request(
                    method, f"{app}{path}", json=body, headers=headers, timeout=30
                )
                assert answer.status_code == 503, (path, answer.status_code, answer.text[:300])
                assert time.monotonic() - started < 3.5
                assert answer.json()["code"] == "database_unavailable"
                assert int(answer.headers["Retry-After"]) > 0
            # Pages too (the admin, signed in through its session): 503, not a 500.
            page = httpx.get(f"{app}/admin/", cookies=session, timeout=30)
            assert page.status_code == 503, (page.status_code, page.text[:300])
            assert "cannot reach its database" in page.text
            assert int(page.headers["Retry-After"]) > 0
            started = time.monotonic()
            ready = httpx.get(f"{app}/readyz", timeout=30)
            assert ready.status_code == 503
            assert time.monotonic() - started < 2.5
            assert httpx.get(f"{app}/healthz", timeout=5).status_code == 200
        finally:
            pg_ctl(
                server, "start", "-o", shlex.join(options), "-l", str(Path(server.pgdata) / "log")
            )
        # Back without a restart of the server.
        assert wait_for(lambda: httpx.get(f"{app}/readyz", timeout=10).status_code == 200)
        assert wait_for(
            lambda: (
                httpx.post(f"{app}/api/trades/", json=body, headers=headers, timeout=10).status_code
                == 201
            )
        )


def admin_session(base: str, username: str, password: str) -> dict:
    """Sign in through the admin's form, as a browser does; the session cookie."""
    with httpx.Client(base_url=base, timeout=10) as browser:
        csrf = browser.get("/admin/login/").cookies["csrftoken"]
        signed_in = browser.post(
            "/admin/login/?next=/admin/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": csrf},
            headers={"Referer": f"{base}/admin/login/"},
        )
        assert signed_in.status_code == 302, signed_in.text[:300]
        return {"sessionid": browser.cookies["sessionid"]}


def test_workers_exit_when_their_master_is_killed_and_the_port_is_free_again(market, tmp_path):
    import psutil

    port = free_port()
    with production_server(tmp_path, port) as server:
        master = psutil.Process(server.pid)
        assert wait_for(lambda: len(master.children(recursive=True)) >= 2)
        workers = [p for p in master.children(recursive=True) if "python" in p.name().lower()]
        master.kill()  # kill -9 of the master alone
        server.wait(10)
        # They finish their graceful shutdown first (up to its 10 s, and the relay's stop).
        _, alive = psutil.wait_procs(workers, timeout=60)
        assert not alive, [p.pid for p in alive]
    with production_server(tmp_path, port):  # no EADDRINUSE: nothing holds the port
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
