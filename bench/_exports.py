"""Watching the exports during the write-path benchmark: a RabbitMQ consumer and a webhook
receiver, each recording how long after its commit every event arrived (`published_at` is
written just before the trade's COMMIT).

The receiver is an aiohttp server in a process of its own, as a real receiver would be a
server of its own: in the benchmark's process, Python's http.server took up to 60 ms per
request under the run's load and was what limited the deliveries."""

from __future__ import annotations

import json
import multiprocessing
import socket
import threading
import time
from datetime import datetime

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/%2F"


def rabbitmq_answers() -> bool:
    try:
        import pika

        pika.BlockingConnection(pika.URLParameters(RABBITMQ)).close()
        return True
    except Exception:
        return False


def _lag(body: bytes) -> tuple[str, float]:
    data = json.loads(body)
    published = datetime.fromisoformat(data["published_at"]).timestamp()
    return data.get("transaction_id", ""), time.time() - published


class ExportWatch:
    def __init__(self, exchange: str | None):
        self.lags: dict[str, list[tuple[float, float]]] = {"amqp": [], "webhooks": []}
        self._stop = threading.Event()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self._results, theirs = multiprocessing.Pipe()
        self._receiver = multiprocessing.get_context("spawn").Process(
            target=_receive, args=(port, theirs), daemon=True
        )
        self._receiver.start()
        self.webhook_url = f"http://127.0.0.1:{port}/hook"
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        self._consumer = None
        if exchange:
            self._consumer = threading.Thread(target=self._consume, args=(exchange,), daemon=True)
            self._consumer.start()

    def _consume(self, exchange: str) -> None:
        import pika

        connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ))
        channel = connection.channel()
        channel.exchange_declare(exchange=exchange, exchange_type="topic", durable=True)
        queue = channel.queue_declare(queue="", exclusive=True).method.queue
        channel.queue_bind(queue=queue, exchange=exchange, routing_key="#")

        def keep(ch, method, properties, body):
            self.lags["amqp"].append((time.time(), _lag(body)[1]))
            ch.basic_ack(method.delivery_tag)

        channel.basic_consume(queue=queue, on_message_callback=keep)
        while not self._stop.is_set():
            connection.process_data_events(time_limit=0.2)
        connection.close()

    def collect(self) -> None:
        """The receiver's arrivals so far."""
        self._results.send("report")
        self.lags["webhooks"] = self._results.recv()

    def between(self, start: float, end: float) -> dict[str, list[float]]:
        """Lags (seconds) of what arrived for events committed between start and end."""
        return {
            name: [lag for arrived, lag in values if start <= arrived - lag <= end]
            for name, values in self.lags.items()
        }

    def close(self) -> None:
        self._stop.set()
        self._receiver.terminate()


def _receive(port: int, results) -> None:
    """The webhook receiver's process: answers 204 and notes (arrival, lag) of every event."""
    import asyncio

    from aiohttp import web

    arrivals: list[tuple[float, float]] = []

    async def hook(request):
        body = await request.read()
        arrivals.append((time.time(), _lag(body)[1]))
        return web.Response(status=204)

    async def main():
        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
        loop = asyncio.get_running_loop()
        while True:
            await loop.run_in_executor(None, results.recv)
            results.send(list(arrivals))

    asyncio.run(main())
