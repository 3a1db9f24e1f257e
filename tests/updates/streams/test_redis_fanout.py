"""With REDIS_URL, an event committed in any process reaches the clients of every process."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from tests.factories import CommodityFactory, StationFactory, UserFactory, give_stock
from tests.helpers import post_trade, token_header, wait_for
from tests.servers import ROOT, server_env, uvicorn_server
from tests.sse import SSEClient

pytestmark = pytest.mark.django_db(transaction=True)
REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_available() -> bool:
    import redis

    try:
        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


@pytest.fixture
def two_servers(django_db_setup, django_db_blocker):
    """Two server processes of one deployment: one Redis, one database (and so one relay)."""
    if not redis_available():
        pytest.skip(f"no Redis at {REDIS_URL}")
    env = server_env(REDIS_URL=REDIS_URL)
    with django_db_blocker.unblock(), uvicorn_server(env=env) as a, uvicorn_server(env=env) as b:
        yield a, b


def test_events_cross_processes_through_redis(two_servers, tmp_path):
    a, b = two_servers
    ceres, _ = StationFactory(code="ceres-prime"), StationFactory(code="vesta-yards")
    water = CommodityFactory(code="water")
    give_stock(ceres, water, 100)
    staff = token_header(UserFactory(username="staff", is_superuser=True))

    with (
        SSEClient(f"{a}/api/updates/real-time/", headers=staff) as on_a,
        SSEClient(f"{b}/api/updates/real-time/", headers=staff) as on_b,
    ):
        # Committed by server B's process: seen by the client of server A, and of B.
        created = post_trade(b, staff, "ceres-prime", "vesta-yards").json()
        for client in (on_a, on_b):
            seen = client.next_of("trade.initiated", timeout=30).json
            assert seen["transaction_id"] == created["transaction_id"]

        # Committed by a management command, a process with no server at all.
        galaxy = tmp_path / "outpost.json"
        galaxy.write_text(
            json.dumps(
                {
                    "stations": [{"code": "rim-outpost", "name": "Rim Outpost", "x": 901.5}],
                    "stock": [{"station": "rim-outpost", "commodity": "water", "quantity": 7}],
                }
            )
        )
        command = [sys.executable, "manage.py", "seed_stations", "--file", str(galaxy)]
        done = subprocess.run(
            command, cwd=ROOT, env=server_env(REDIS_URL=REDIS_URL), capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        for client in (on_a, on_b):
            change = client.next_where(
                "inventory.changed", lambda e: e["station"] == "rim-outpost", timeout=30
            ).json
            assert (change["station"], change["on_hand"], change["kind"]) == (
                "rim-outpost",
                7,
                "initial",
            )


def test_streams_ride_out_a_redis_outage_and_redis_takes_over_again(private_redis):
    """Redis is an accelerator: while it is away, trades commit, open streams receive every
    event (through PostgreSQL) in order without reconnecting, and the replica stays ready;
    when it returns, the process subscribes again and events travel through Redis once more,
    to the streams that stayed open and to new ones."""
    ceres, _ = StationFactory(code="ceres-prime"), StationFactory(code="vesta-yards")
    give_stock(ceres, CommodityFactory(code="water"), 1000)
    staff = token_header(UserFactory(username="staff", is_superuser=True))
    with (
        uvicorn_server(env=server_env(REDIS_URL=private_redis.url)) as server,
        SSEClient(f"{server}/api/updates/real-time/", headers=staff) as stream,
    ):
        placed = [post_trade(server, staff, "ceres-prime", "vesta-yards").json()]
        stream.next_of("trade.initiated", timeout=30)
        # Every event of the trade (initiated, shipment, stock moves) came through Redis.
        assert wait_for(lambda: redis_figures(server)[1] >= 1), redis_figures(server)
        assert redis_figures(server)[0] == 1

        private_redis.stop()
        assert wait_for(lambda: redis_figures(server)[0] == 0), redis_figures(server)
        ready = httpx.get(f"{server}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["degraded"] == ["redis"]
        assert ready.json()["checks"]["redis"].startswith("unavailable")
        for _ in range(3):
            placed.append(post_trade(server, staff, "ceres-prime", "vesta-yards").json())

        private_redis.start()
        assert wait_for(lambda: redis_figures(server)[0] == 1), redis_figures(server)
        received_before = redis_figures(server)[1]
        assert httpx.get(f"{server}/readyz", timeout=10).json()["degraded"] == []
        with SSEClient(f"{server}/api/updates/real-time/", headers=staff) as newcomer:
            placed.append(post_trade(server, staff, "ceres-prime", "vesta-yards").json())
            late = newcomer.next_of("trade.initiated", timeout=30).json
            assert late["transaction_id"] == placed[-1]["transaction_id"]

        seen = [stream.next_of("trade.initiated", timeout=30) for _ in placed[1:]]
        assert [m.json["transaction_id"] for m in seen] == [t["transaction_id"] for t in placed[1:]]
        ids = [int(m.id) for m in seen]
        assert ids == sorted(ids)
        # The last trade's events came through Redis: its subscriber is alive again.
        assert wait_for(lambda: redis_figures(server)[1] > received_before)


def redis_figures(server) -> tuple[float, float]:
    """(tradenet_event_transport_up, tradenet_events_received_total) for Redis, from /metrics."""
    text = httpx.get(f"{server}/metrics", timeout=10).text
    up = received = -1.0
    for line in text.splitlines():
        if line.startswith('tradenet_event_transport_up{transport="redis"}'):
            up = float(line.rsplit(" ", 1)[1])
        if line.startswith('tradenet_events_received_total{transport="redis"}'):
            received = float(line.rsplit(" ", 1)[1])
    return up, received
