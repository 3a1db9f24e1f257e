"""Watching the exports during the write-path benchmark: a RabbitMQ consumer and a webhook
receiver, each recording how long after its commit every event arrived (`published_at` is
written just before the trade's COMMIT)."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
        watch = self

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                watch.lags["webhooks"].append((time.time(), _lag(body)[1]))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        self.webhook_url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
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

    def between(self, start: float, end: float) -> dict[str, list[float]]:
        """Lags (seconds) of what arrived for events committed between start and end."""
        return {
            name: [lag for arrived, lag in values if start <= arrived - lag <= end]
            for name, values in self.lags.items()
        }

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
