"""Pushpin (GRIP) as the SSE edge: it holds the clients' connections, the app only publishes."""

from __future__ import annotations

import shutil
import time

import httpx
import pytest

from tests.helpers import post_trade, token_header
from tests.servers import (
    PUSHPIN_KEY,
    pushpin_offset,
    pushpin_publish_url,
    pushpin_server,
    server_env,
    uvicorn_server,
)
from tests.sse import SSEClient

pytestmark = pytest.mark.django_db(transaction=True)


def app_behind_pushpin(tmp_path, **settings):
    if not shutil.which("pushpin"):
        pytest.skip("Pushpin is not installed (apt-get install pushpin)")
    offset = pushpin_offset()
    env = server_env(
        GRIP_URL=pushpin_publish_url(offset),
        GRIP_KEY=PUSHPIN_KEY,
        TRADENET_SSE_KEEPALIVE_SECONDS="2",
        **settings,
    )
    env.pop("REDIS_URL", None)
    with uvicorn_server(env=env) as app:
        app_port = int(app.rsplit(":", 1)[1])
        with pushpin_server(app_port, tmp_path, offset) as edge_url:
            yield app, edge_url


@pytest.fixture
def edge(tmp_path):
    yield from app_behind_pushpin(tmp_path)


@pytest.fixture
def edge_with_short_replays(tmp_path):
    yield from app_behind_pushpin(tmp_path, TRADENET_SSE_REPLAY_LIMIT="5")


def open_stream(url, headers) -> SSEClient:
    """Pushpin answers 500 "Accept service unavailable" until its handler has connected to its
    proxy, a moment after both answer HTTP; and the first stream it holds after starting is
    sometimes dropped before any answer (about one start in three here, with or without
    this project's recovery changes; not seen on later streams). Retry through those, as
    EventSource reconnects, and only those."""
    for _ in range(20):
        client = SSEClient(url, headers=headers)
        starting = client.status == 500 and b"Accept service unavailable" in client.body
        if not starting and client.status is not None:
            return client
        client.close()
        time.sleep(0.25)
    return client


def stream_stats(app, headers):
    return httpx.get(f"{app}/api/updates/status/", headers=headers, timeout=10).json()


def test_pushpin_holds_the_streams_and_delivers_scoped_events(edge, galaxy):
    app, edge_url = edge
    people = galaxy["people"]
    staff, ana, cy = (token_header(people[name]) for name in ("staff", "ana", "cy"))

    with (
        open_stream(f"{edge_url}/api/updates/real-time/", staff) as staff_stream,
        open_stream(f"{edge_url}/api/updates/real-time/", cy) as titan_stream,
        open_stream(f"{edge_url}/api/updates/stations/ceres-prime/", ana) as ceres_stream,
    ):
        streams = (staff_stream, titan_stream, ceres_stream)
        assert [s.status for s in streams] == [200] * 3, [(s.status, s.body) for s in streams]
        # The app answered each once and holds none of them: Pushpin does.
        assert stream_stats(app, staff)["clients"] == 0

        first = post_trade(app, ana, "ceres-prime", "vesta-yards").json()
        second = post_trade(app, ana, "ceres-prime", "titan").json()

        seen = [staff_stream.next_of("trade.initiated", timeout=30).json for _ in range(2)]
        assert [t["transaction_id"] for t in seen] == [
            first["transaction_id"],
            second["transaction_id"],
        ]
        ceres_seen = ceres_stream.next_of("trade.initiated", timeout=30).json
        assert ceres_seen["transaction_id"] == first["transaction_id"]
        # Titan's operator sees the trade titan is part of, and only that one.
        titan_seen = titan_stream.next_of("trade.initiated", timeout=30).json
        assert titan_seen["transaction_id"] == second["transaction_id"]
        assert all(
            "titan"
            in {m.json.get(k) for k in ("seller", "buyer", "station", "origin", "destination")}
            for m in titan_stream.drain(1) + titan_stream.history
        )


def test_requests_not_signed_by_pushpin_are_streamed_directly(edge, galaxy):
    app, _ = edge
    staff = token_header(galaxy["people"]["staff"])
    forged = {**staff, "Grip-Sig": "not-a-valid-signature"}
    with SSEClient(f"{app}/api/updates/real-time/", headers=forged) as client:
        assert client.status == 200
        assert "grip-hold" not in client.headers
        assert stream_stats(app, staff)["clients"] == 1


def test_a_revocation_closes_the_users_streams_held_by_pushpin(edge, galaxy):
    """Pushpin holds no credential: the revocation is published as a close on the user's own
    channel, so their streams end before anything committed later is published to them."""
    app, edge_url = edge
    people = galaxy["people"]
    ana, staff = token_header(people["ana"]), token_header(people["staff"])
    with open_stream(f"{edge_url}/api/updates/stations/ceres-prime/", ana) as stream:
        assert stream.status == 200, stream.body
        post_trade(app, staff, "ceres-prime", "vesta-yards")
        stream.next_of("trade.initiated", timeout=30)

        assert httpx.post(f"{app}/api/auth/token/revoke-all/", headers=ana).status_code == 204
        later = post_trade(app, staff, "ceres-prime", "vesta-yards").json()

        assert stream.ended(timeout=20), "Pushpin kept the revoked stream open"
        ids = {m.json.get("transaction_id") for m in stream.drain(0.5) if m.data}
        assert later["transaction_id"] not in ids


@pytest.fixture
def two_edges_and_a_dead_one(tmp_path):
    """Two Pushpins in front of one app, and two more publish URLs that accept connections and
    never answer (Pushpins hung): GRIP_URL names all four."""
    import socket
    import threading

    if not shutil.which("pushpin"):
        pytest.skip("Pushpin is not installed (apt-get install pushpin)")
    first = pushpin_offset()
    second = pushpin_offset()
    while abs(second - first) < 50:
        second = pushpin_offset()
    hung, held = [], []
    for _ in range(2):  # two hung ones: published in turn, each batch would wait 10 s
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        threading.Thread(
            target=lambda sock=sock: held.extend(iter(sock.accept, None)), daemon=True
        ).start()
        hung.append(sock)
    urls = [pushpin_publish_url(first), *(f"http://127.0.0.1:{s.getsockname()[1]}" for s in hung),
            pushpin_publish_url(second)]  # fmt: skip
    env = server_env(GRIP_URL=",".join(urls), GRIP_KEY=PUSHPIN_KEY)
    env.pop("REDIS_URL", None)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    try:
        with uvicorn_server(env=env) as app:
            port = int(app.rsplit(":", 1)[1])
            with (
                pushpin_server(port, tmp_path / "a", first) as edge_a,
                pushpin_server(port, tmp_path / "b", second) as edge_b,
            ):
                yield app, edge_a, edge_b
    finally:
        for sock in hung:
            sock.close()


def test_every_pushpin_gets_every_event_and_a_hung_one_holds_up_nothing(
    two_edges_and_a_dead_one, galaxy
):
    app, edge_a, edge_b = two_edges_and_a_dead_one
    staff = token_header(galaxy["people"]["staff"])
    with (
        open_stream(f"{edge_a}/api/updates/real-time/", staff) as via_a,
        open_stream(f"{edge_b}/api/updates/real-time/", staff) as via_b,
        SSEClient(f"{app}/api/updates/real-time/", headers=staff) as direct,
    ):
        assert (via_a.status, via_b.status) == (200, 200), (via_a.body, via_b.body)
        # The app's own stream is not held up by the hung Pushpins. Published on the relay's
        # thread, every batch waited out their 5 s timeouts (10 s) before any stream got it.
        first = post_trade(app, staff, "ceres-prime", "vesta-yards").json()["transaction_id"]
        posted = time.monotonic()
        assert direct.next_of("trade.initiated", timeout=30).json["transaction_id"] == first
        assert time.monotonic() - posted < 5
        placed = [first] + [
            post_trade(app, staff, "ceres-prime", "vesta-yards").json()["transaction_id"]
            for _ in range(4)
        ]
        seen = [first] + [direct.next_of("trade.initiated", timeout=30).json["transaction_id"]
                          for _ in placed[1:]]  # fmt: skip
        assert seen == placed
        for stream in (via_a, via_b):  # both Pushpins: every event, in order
            got = [stream.next_of("trade.initiated", timeout=30).json["transaction_id"]
                   for _ in placed]  # fmt: skip
            assert got == placed


def test_streams_subscribing_while_events_are_published_get_each_event_once_in_order(edge, market):
    """Pushpin subscribes a stream when the app's answer reaches it; events published in
    between are recovered through prev-id and the hold's next link (sequence.py). Clients
    resume from the last event at the moment they connect, while trades keep coming: each
    must end with every later event, once, in id order."""
    import threading

    from updates.log.eventstream import current_id
    from updates.streams.hub import events_after

    app, edge_url = edge
    staff = market
    stop, posted = threading.Event(), []

    def trade_load():
        while not stop.is_set():
            answer = post_trade(app, staff, "ceres-prime", "vesta-yards")
            posted.append(answer.status_code)

    load = [threading.Thread(target=trade_load) for _ in range(3)]
    for thread in load:
        thread.start()
    clients = []
    try:
        for _ in range(12):
            resumed_from = current_id()
            client = open_stream(
                f"{edge_url}/api/updates/real-time/",
                {**staff, "Last-Event-ID": str(resumed_from)},
            )
            assert client.status == 200, client.body
            clients.append((resumed_from, client))
            time.sleep(0.4)
    finally:
        stop.set()
        for thread in load:
            thread.join(30)
    assert posted and set(posted) == {201}, set(posted)
    try:
        time.sleep(3)  # the last trades' events relayed
        for resumed_from, client in clients:
            expected = [e.id for e in events_after(resumed_from, 100_000) if e.frame]
            got = []
            deadline = time.monotonic() + 60
            while (not got or got[-1] < expected[-1]) and time.monotonic() < deadline:
                got += [int(m.id) for m in client.drain(0.5) if m.id]
            got += [int(m.id) for m in client.drain(1) if m.id]  # nothing twice after the end
            assert got == expected, (resumed_from, sorted(set(expected) - set(got))[:10], got[:5])
    finally:
        for _, client in clients:
            client.close()


def test_a_quiet_stations_stream_is_recovered_not_reset_when_the_log_has_moved_far_on(
    edge_with_short_replays, market
):
    """Pushpin asks again (its next link, with Grip-Last) for every stream of a channel it has
    just subscribed. A quiet station's channel last saw an event long ago, or never: resuming
    from there read more of the log than a replay may hold (5 here) and answered stream-reset,
    so the stream lost what it missed. It resumes from where its hold left it instead."""
    app, edge_url = edge_with_short_replays
    staff = market
    for _ in range(4):  # the log moves far past titan's last event (none): 16 events
        assert post_trade(app, staff, "ceres-prime", "vesta-yards").status_code == 201
    with open_stream(f"{edge_url}/api/updates/stations/titan/", staff) as stream:
        assert stream.status == 200, stream.body
        settled = stream.drain(3)  # Pushpin's recovery of the new channel comes in this time
        made = post_trade(app, staff, "titan", "luna-gateway")
        assert made.status_code == 201, made.text
        transaction_id = made.json()["transaction_id"]
        got = settled + stream.drain(3)
        for _ in range(10):
            if any(m.event == "trade.initiated" for m in got):
                break
            got += stream.drain(1)
    assert "stream-reset" not in [m.event for m in got]
    initiated = [m for m in got if m.event == "trade.initiated"]
    assert len(initiated) == 1 and transaction_id in initiated[0].data
