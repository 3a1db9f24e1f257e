"""The RabbitMQ feed: every committed event, once after dedupe by message_id, in order, with
routing keys consumers can bind by station or type; through a broker outage and a kill -9 of
the exporting process.

Against the machine's RabbitMQ on 127.0.0.1:5672 (guest/guest); the outage is a TCP proxy
between the servers and the broker that the test stops and starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
import uuid

import httpx
import pytest
from django.db import connection

from tests.helpers import post_trade, wait_for
from tests.servers import free_port, server_env, uvicorn_server
from tests.sse import SSEClient
from updates.integrations.exporters import AmqpExporter

pytestmark = pytest.mark.django_db(transaction=True)

BROKER = ("127.0.0.1", 5672)


def broker_answers() -> bool:
    try:
        import pika

        pika.BlockingConnection(pika.URLParameters(amqp_url(BROKER[1]))).close()
        return True
    except Exception:
        return False


def amqp_url(port: int) -> str:
    return f"amqp://guest:guest@127.0.0.1:{port}/%2F?heartbeat=10"


@pytest.fixture
def broker():
    if not broker_answers():
        pytest.skip(f"no RabbitMQ at {BROKER[0]}:{BROKER[1]} (guest/guest)")
    return f"tradenet.test.{uuid.uuid4().hex[:8]}"  # an exchange of the test's own


class Consumer:
    """Queues of the test's own on the exchange, drained on a thread: (routing key, message id,
    type, body) of every message, per queue."""

    def __init__(self, exchange: str, bindings: dict[str, str]):
        import pika

        self.received: dict[str, list[tuple[str, str, str, dict]]] = {q: [] for q in bindings}
        self._connection = pika.BlockingConnection(pika.URLParameters(amqp_url(BROKER[1])))
        channel = self._connection.channel()
        channel.exchange_declare(exchange=exchange, exchange_type="topic", durable=True)
        for name, pattern in bindings.items():
            queue = channel.queue_declare(queue="", exclusive=True).method.queue
            channel.queue_bind(queue=queue, exchange=exchange, routing_key=pattern)
            channel.basic_consume(queue=queue, on_message_callback=self._keeper(name))
        self._channel = channel
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _keeper(self, name):
        def keep(channel, method, properties, body):
            self.received[name].append(
                (method.routing_key, properties.message_id, properties.type, json.loads(body))
            )
            channel.basic_ack(method.delivery_tag)

        return keep

    def _drain(self):
        while not self._stop.is_set():
            self._connection.process_data_events(time_limit=0.2)

    def ids(self, name: str) -> list[int]:
        return [int(message_id) for _, message_id, _, _ in self.received[name]]

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self._connection.close()


def committed_trades() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT transaction_id FROM trades_trade")
        return {row[0] for row in cursor.fetchall()}


def stored_ids() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT eid FROM django_eventstream_event WHERE eid > 0 ORDER BY eid")
        return [row[0] for row in cursor.fetchall()]


def test_every_committed_event_reaches_rabbitmq_with_the_streams_id_and_body(broker, market):
    consumer = Consumer(
        broker, {"all": "#", "ceres": "#.ceres-prime.#", "cargo": "cargo.#", "titan": "*.*.titan"}
    )
    env = server_env(TRADENET_AMQP_URL=amqp_url(BROKER[1]), TRADENET_AMQP_EXCHANGE=broker)
    try:
        with (
            uvicorn_server(env=env) as server,
            SSEClient(f"{server}/api/updates/real-time/", headers=market) as stream,
        ):
            placed = [
                post_trade(server, market, "ceres-prime", "titan").json(),
                post_trade(server, market, "titan", "vesta-yards").json(),
            ]
            for _ in placed:
                stream.next_of("trade.initiated", timeout=30)
            assert wait_for(lambda: len(consumer.ids("all")) >= len(stored_ids()), timeout=60)

            # The same events as the stream, same ids, same JSON, in order.
            on_stream = {int(m.id): (m.event, m.json) for m in stream.history}
            fed = consumer.received["all"]
            assert [int(message_id) for _, message_id, _, _ in fed] == stored_ids()
            for _key, message_id, event_type, body in fed:
                if int(message_id) in on_stream:
                    assert (event_type, body) == on_stream[int(message_id)]
            keys = {key for key, *_ in fed}
            assert "trade.initiated.ceres-prime.titan" in keys
            assert "cargo.created.titan.vesta-yards" in keys
            assert "inventory.changed.ceres-prime" in keys

            # Bindings by station and by type get just theirs.
            assert all("ceres-prime" in key.split(".") for key, *_ in consumer.received["ceres"])
            assert {body["transaction_id"] for _, _, kind, body in consumer.received["ceres"]
                    if kind == "trade.initiated"} == {placed[0]["transaction_id"]}  # fmt: skip
            assert {kind for _, _, kind, _ in consumer.received["cargo"]} == {"cargo.created"}
            assert [key for key, *_ in consumer.received["titan"]] == [
                key for key, *_ in fed if key.count(".") == 2 and key.endswith(".titan")
            ]

            # The lag is in /metrics and /readyz.
            ready = httpx.get(f"{server}/readyz", timeout=10).json()
            assert ready["exports"]["amqp"] == {"lag_events": 0, "lag_seconds": 0.0}
            metrics = httpx.get(f"{server}/metrics", timeout=10).text
            assert 'tradenet_export_lag_events{exporter="amqp"} 0.0' in metrics
    finally:
        consumer.close()


class TcpProxy:
    """A TCP proxy to the broker that the test can stop (every connection cut, the port
    refusing) and start again on the same port: an outage as the servers see it."""

    def __init__(self, target: tuple[str, int]):
        self.target, self.port = target, free_port()
        self._connections: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, sink) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
            self._listener.close()
            self._listener = None
        with self._lock:
            for end in self._connections:
                try:
                    end.shutdown(socket.SHUT_RDWR)
                    end.close()
                except OSError:
                    pass
            self._connections.clear()


def exporter_holder() -> str | None:
    """The application_name of the connection holding the AMQP exporter's advisory lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.objid = %s AND l.granted",
            [AmqpExporter().lock_key & 0xFFFFFFFF],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def test_a_broker_outage_and_a_kill_9_lose_nothing_and_duplicates_keep_their_id(broker, market):
    proxy = TcpProxy(BROKER)
    proxy.start()
    consumer = Consumer(broker, {"all": "#"})
    env = server_env(
        TRADENET_AMQP_URL=amqp_url(proxy.port),
        TRADENET_AMQP_EXCHANGE=broker,
        TRADENET_RELAY_STANDBY_SECONDS="0.5",
    )
    placed: list[str] = []
    refused: list[str] = []
    stop = threading.Event()
    try:
        with uvicorn_server(env=env) as first, uvicorn_server(env=env) as second:
            servers = {first.application_name: first, second.application_name: second}

            def trade_steadily():
                pairs = [("ceres-prime", "titan"), ("titan", "vesta-yards")]
                while not stop.is_set():
                    for base in (first, second):
                        seller, buyer = pairs[len(placed) % 2]
                        try:
                            answer = post_trade(base, market, seller, buyer)
                        except httpx.HTTPError:
                            continue  # the server being killed: the other one takes them
                        if answer.status_code == 201:
                            placed.append(answer.json()["transaction_id"])
                        else:
                            refused.append(answer.text)
                    time.sleep(0.05)

            writer = threading.Thread(target=trade_steadily, daemon=True)
            writer.start()
            assert wait_for(lambda: len(consumer.ids("all")) > 10, timeout=60)

            proxy.stop()  # the broker is gone for the servers
            outage_started = len(placed)
            assert wait_for(lambda: len(placed) >= outage_started + 10, timeout=60)
            time.sleep(2)
            # Trades still commit; their events wait in the log, and the lag says so.
            lag = httpx.get(f"{first}/readyz", timeout=10).json()["exports"]["amqp"]
            assert lag["lag_events"] >= 10 and lag["lag_seconds"] > 1, lag
            proxy.start()

            assert wait_for(lambda: exporter_holder() in servers, timeout=30)
            active = servers[exporter_holder()]
            os.kill(active.pid, signal.SIGKILL)  # mid-stream, confirmed or not
            assert wait_for(
                lambda: exporter_holder() not in (None, active.application_name), timeout=60
            )
            survivor = servers[exporter_holder()]
            killed_at = len(placed)
            assert wait_for(lambda: len(placed) >= killed_at + 10, timeout=60)
            stop.set()
            writer.join(60)

            assert wait_for(lambda: set(consumer.ids("all")) >= set(stored_ids()), timeout=120), (
                len(set(consumer.ids("all"))),
                len(stored_ids()),
            )
            ids = consumer.ids("all")
            assert set(ids) == set(stored_ids())  # every committed event, nothing else
            # Sent again after the outage or the kill, a message is the same message.
            bodies: dict[str, set[str]] = {}
            for key, message_id, _, body in consumer.received["all"]:
                bodies.setdefault(message_id, set()).add(key + json.dumps(body, sort_keys=True))
            assert all(len(versions) == 1 for versions in bodies.values())
            # In order, once duplicates are dropped: a resend starts again from the position.
            first_seen = list(dict.fromkeys(ids))
            assert first_seen == sorted(first_seen)
            initiated = {
                body["transaction_id"]
                for _, _, kind, body in consumer.received["all"]
                if kind == "trade.initiated"
            }
            # Every committed trade, the placed ones and any the kill -9 cut off from its answer.
            assert initiated == committed_trades() >= set(placed)
            assert not refused, refused[:3]
            assert httpx.get(f"{survivor}/readyz", timeout=10).status_code == 200
    finally:
        stop.set()
        consumer.close()
        proxy.stop()
