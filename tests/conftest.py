from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import CommodityFactory, StationFactory, give_stock
from tests.redis_server import private_redis  # noqa: F401  (a fixture for every test)

# The galaxies of stations and the browser that tests of several packages share.
pytest_plugins = ["tests.galaxies"]

TESTS = Path(__file__).resolve().parent
# The fixtures that start processes of their own (servers, Redis, RabbitMQ, Pushpin,
# PostgreSQL): a test that asks for one is `slow`. A module that starts them itself says so
# with `pytestmark = pytest.mark.slow`.
STARTS_PROCESSES = {
    "api_server", "stream_server", "broker", "edge", "edge_with_short_replays",
    "guarded_server", "own_postgres", "primary", "private_redis", "receiver", "server",
    "two_edges_and_a_dead_one", "two_servers", "access_lines", "static_root",
}  # fmt: skip


def pytest_collection_modifyitems(items) -> None:
    """Markers for a quicker loop (docs/testing.md#a-quicker-loop): `cluster` for the tests of
    tests/deploy/cluster, `browser` for those that drive Chromium, `slow` for those that start
    processes. `make test` runs them all."""
    for item in items:
        if Path(item.path).resolve().relative_to(TESTS).parts[:2] == ("deploy", "cluster"):
            item.add_marker(pytest.mark.cluster)
        if "browser_page" in item.fixturenames:
            item.add_marker(pytest.mark.browser)
        if STARTS_PROCESSES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def ceres(db):
    return StationFactory(code="ceres-prime", x=0.0)


@pytest.fixture
def vesta(db):
    return StationFactory(code="vesta-yards", x=4.0)


@pytest.fixture
def water(db):
    return CommodityFactory(code="water")


@pytest.fixture
def ore(db):
    return CommodityFactory(code="iron-ore")


@pytest.fixture
def stocked_ceres(ceres, water, ore):
    give_stock(ceres, water, 100)
    give_stock(ceres, ore, 50)
    return ceres


# Server fixtures live for one module: every server process runs an outbox relay, and only one
# relay is active per database, so a server of another configuration (Redis, Pushpin) started by
# a later module must not find the relay held by one of these.
@pytest.fixture(scope="module")
def api_server(django_db_setup, django_db_blocker):
    """A real uvicorn process (3 workers) serving the project on the test database."""
    from tests.servers import server_env, uvicorn_server

    env = server_env()
    env.pop("REDIS_URL", None)
    with django_db_blocker.unblock(), uvicorn_server(workers=3, env=env) as base_url:
        yield base_url


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    from django.core.cache import cache, caches

    from core.api.throttling import counts

    cache.clear()
    caches["throttles"].clear()
    counts.local.clear()


@pytest.fixture
def dispatcher(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("dispatch", password="pw-dispatch-123")


@pytest.fixture
def ceres_op(db, ceres):
    from inventory.services import operator_grant
    from tests.factories import UserFactory

    user = UserFactory(username="ceres-op")
    operator_grant(user=user, stations=[ceres])
    return user


@pytest.fixture
def vesta_op(db, vesta):
    from inventory.services import operator_grant
    from tests.factories import UserFactory

    user = UserFactory(username="vesta-op")
    operator_grant(user=user, stations=[vesta])
    return user


@pytest.fixture
def vesta_grants_ceres(ceres, vesta):
    """Vesta's standing agreement with Ceres: Ceres's operators may sell to Vesta in one
    request (trades.consent), within limits no test reaches."""
    from tests.factories import grant_agreement

    return grant_agreement(vesta, ceres)


@pytest.fixture
def outsider(db):
    from tests.factories import UserFactory

    return UserFactory(username="outsider")


@pytest.fixture
def api():
    """api(user) -> a DRF test client signed in as `user` (None: anonymous)."""
    from rest_framework.test import APIClient

    def make(user=None):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture(scope="module")
def stream_server(django_db_setup, django_db_blocker):
    """One uvicorn process (so every event reaches every client without Redis), with short
    keep-alives and a small replay limit so tests can see both."""
    from tests.servers import server_env, uvicorn_server

    env = server_env(
        TRADENET_SSE_KEEPALIVE_SECONDS="1",
        TRADENET_SSE_REPLAY_LIMIT="20",
        # The resource tests hold many streams as one user; the cap has its own test.
        TRADENET_SSE_MAX_STREAMS_PER_USER="1000",
    )
    env.pop("REDIS_URL", None)
    with django_db_blocker.unblock(), uvicorn_server(workers=1, env=env) as base_url:
        yield base_url


@pytest.fixture(autouse=True, scope="session")
def _flush_outlives_a_deadlock():
    """Between transactional tests Django empties every table with one TRUNCATE, while a
    server a test started may still be moving that test's last events (its relay, in a
    transaction of its own); PostgreSQL may then choose the TRUNCATE as a deadlock's victim
    (seen once in CI). The flush is tried again: the servers' work ends in a moment, and only
    the tests ever TRUNCATE."""
    import time

    from django.db import OperationalError
    from django.db.backends.base.operations import BaseDatabaseOperations

    original = BaseDatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        for attempt in range(5):
            try:
                return original(self, sql_list)
            except OperationalError as exc:
                if "deadlock detected" not in str(exc) or attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    BaseDatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    BaseDatabaseOperations.execute_sql_flush = original
