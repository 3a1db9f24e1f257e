"""With REDIS_URL, an event committed in any process reaches the clients of every process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.factories import CommodityFactory, StationFactory, UserFactory, give_stock
from tests.servers import ROOT, server_env, uvicorn_server
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


@pytest.fixture(scope="module")
def two_servers(django_db_setup, django_db_blocker):
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
