"""The threads that carry committed events on, beside the requests, one of each active per
deployment: the relay (outbox -> event log, Redis, Pushpin), in every worker, beside the
streams it hands events to; the exporters (RabbitMQ, webhooks), in the server's main process
(tradenet/serve.py), or, served some other way, in every server process; beside a server with no
ASGI lifespan (gunicorn's WSGI, runserver, daphne), in `manage.py deliver`."""

from __future__ import annotations

import os

from updates.integrations.exporters import configured as feed_exporters
from updates.integrations.webhooks.fanout import WebhookFanout
from updates.integrations.webhooks.sender import WebhookSender
from updates.log.relay import relay
from updates.log.singleton import SingletonWorker

IN_MAIN = "TRADENET_DELIVERY_IN_MAIN"


def configured_exporters() -> list[SingletonWorker]:
    """The exporters: the RabbitMQ feed when configured, the webhooks' fan-out and sender."""
    return [*feed_exporters(), WebhookFanout(), WebhookSender()]


def main_process_workers() -> list[SingletonWorker]:
    """What the server's main process runs."""
    return configured_exporters()


def server_process_workers() -> list[SingletonWorker]:
    """What each worker runs: the relay, and the exporters unless the main process runs them."""
    return [relay] + ([] if os.environ.get(IN_MAIN) else configured_exporters())


def every_worker() -> list[SingletonWorker]:
    """What `manage.py deliver` runs, beside a server that runs none of them (a WSGI server,
    daphne): the relay and the exporters."""
    return [relay, *configured_exporters()]
