"""With REDIS_URL, an event committed in any process reaches the clients of every process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import pytest

from tests.factories import CommodityFactory, StationFactory, UserFactory, give_stock
from tests.servers import ROOT, free_port, server_env, uvicorn_server
from tests.sse import SSEClient
from tests.updates.test_streams import post_trade, token_header

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
            seen = client.next_of("trade.initiated", timeout=15).json
            assert seen["transaction_id"] == created["transaction_id"]

        # Committed by a management command, a process with no server at all.
        galaxy = tmp_path / "outpost.json"
        galaxy.write_text(
            json.dumps(
                {
                    "stations": [{"code": "rim-outpost", "name": "Rim Outpost"}],
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
            change = client.next_of("inventory.changed", timeout=15).json
            assert (change["station"], change["on_hand"], change["kind"]) == (
                "rim-outpost",
                7,
                "initial",
            )


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of the test's own, which the test may stop and start again."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    port = free_port()

    def start():
        return subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip

    state = {"process": start()}
    url = f"redis://127.0.0.1:{port}/0"
    wait_for_redis(url)

    def restart():
        state["process"].terminate()
        state["process"].wait(10)
        time.sleep(1.5)  # the app notices the loss
        state["process"] = start()
        wait_for_redis(url)

    yield url, restart
    state["process"].terminate()
    state["process"].wait(10)


def wait_for_redis(url):
    import redis

    deadline = time.monotonic() + 10
    while True:
        try:
            if redis.Redis.from_url(url, socket_connect_timeout=0.5).ping():
                return
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_streams_survive_a_redis_restart(private_redis):
    """redis-py resubscribes django-eventstream's listener after a Redis restart."""
    url, restart_redis = private_redis
    ceres, _ = StationFactory(code="ceres-prime"), StationFactory(code="vesta-yards")
    give_stock(ceres, CommodityFactory(code="water"), 100)
    staff = token_header(UserFactory(username="staff", is_superuser=True))
    with (
        uvicorn_server(env=server_env(REDIS_URL=url)) as server,
        SSEClient(f"{server}/api/updates/real-time/", headers=staff) as client,
    ):
        post_trade(server, staff, "ceres-prime", "vesta-yards")
        client.next_of("trade.initiated", timeout=15)
        restart_redis()
        time.sleep(2)  # the app resubscribes
        after = post_trade(server, staff, "ceres-prime", "vesta-yards").json()
        seen = client.next_of("trade.initiated", timeout=15).json
        assert seen["transaction_id"] == after["transaction_id"]
