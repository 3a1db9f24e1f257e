"""Streaming holds no thread or database connection per client, and leaves nothing behind."""

from __future__ import annotations

import time

import httpx
import pytest
from django.conf import settings

from tests.factories import CommodityFactory, StationFactory, UserFactory, give_stock
from tests.helpers import post_trade, token_header, wait_for
from tests.servers import server_connections
from tests.sse import SSEClient, close_all

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
CLIENTS = 60
# The streams' database threads, the NOTIFY listener, one request in flight at most, the
# webhooks' workers (the fan-out's connection, the sender's two: reading the queue, writing
# outcomes) and the waker (wake-ups after commits, core/wakeups.py): none of it grows with
# clients.
BOUND = settings.TRADENET_SSE_DB_THREADS + 2 + 3 + 1


def stats(base, headers) -> dict:
    response = httpx.get(f"{base}/api/updates/status/", headers=headers, timeout=10)
    response.raise_for_status()
    return response.json()


def test_many_clients_share_a_bounded_pool_and_leave_nothing_behind(stream_server):
    StationFactory(code="ceres-prime"), StationFactory(code="vesta-yards")
    give_stock(
        StationFactory._meta.model.objects.get(code="ceres-prime"),
        CommodityFactory(code="water"),
        100,
    )
    staff = token_header(UserFactory(username="staff", is_superuser=True))
    url = f"{stream_server}/api/updates/real-time/"

    # Warm up: streams opened together start the pump and the streams' database threads, and a
    # request starts a view thread; thread pools are bounded, and from here on fully started.
    warm = [SSEClient(url, headers=staff) for _ in range(8)]
    assert post_trade(stream_server, staff, "ceres-prime", "vesta-yards").status_code == 201
    close_all(warm)
    assert wait_for(lambda: stats(stream_server, staff)["clients"] == 0)
    baseline = stats(stream_server, staff)

    clients = [SSEClient(url, headers=staff) for _ in range(CLIENTS)]
    try:
        assert all(c.status == 200 for c in clients)
        during = stats(stream_server, staff)
        assert during["clients"] == CLIENTS
        assert during["threads"] <= baseline["threads"] + 2, (baseline, during)
        assert server_connections(stream_server.application_name) <= BOUND

        # REST writes keep working while the streams are open, and every client gets the news.
        created = post_trade(stream_server, staff, "ceres-prime", "vesta-yards")
        assert created.status_code == 201
        for client in clients:
            message = client.next_of("trade.initiated", timeout=30)
            assert message.json["transaction_id"] == created.json()["transaction_id"]
    finally:
        close_all(clients)

    assert wait_for(lambda: stats(stream_server, staff)["clients"] == 0), stats(
        stream_server, staff
    )
    after = stats(stream_server, staff)
    assert after["tasks"] <= baseline["tasks"], (baseline, after)
    assert after["threads"] <= baseline["threads"] + 2, (baseline, after)
    assert server_connections(stream_server.application_name) <= BOUND


def test_status_is_for_dispatch_staff_only(stream_server):
    operator = token_header(UserFactory(username="op"))
    response = httpx.get(f"{stream_server}/api/updates/status/", headers=operator, timeout=10)
    assert response.status_code == 403


def test_shutdown_ends_open_streams_at_once(django_db_blocker):
    import os
    import signal

    import psutil

    from tests.servers import server_env, uvicorn_server

    staff = token_header(UserFactory(username="staff", is_superuser=True))
    with uvicorn_server(env=server_env()) as base:
        clients = [SSEClient(f"{base}/api/updates/real-time/", headers=staff) for _ in range(5)]
        process = psutil.Process(base.pid)
        started = time.monotonic()
        os.kill(base.pid, signal.SIGTERM)
        process.wait(timeout=15)
        took = time.monotonic() - started
        # The grace period is 5 s; streams must not make shutdown wait it out.
        assert took < 3, took
        assert wait_for(lambda: not any(c._thread.is_alive() for c in clients), timeout=3)
        close_all(clients)
