"""The threads that carry committed events on, beside the requests: the relay (outbox -> event
log, Redis, Pushpin) and the exporters (RabbitMQ, webhooks). One of each is active per
deployment; they run in the server's main process (tradenet/serve.py), or, served some other
way, in every server process."""

from __future__ import annotations

import os

from .exporters import configured as configured_exporters
from .relay import relay
from .singleton import SingletonWorker

IN_MAIN = "TRADENET_DELIVERY_IN_MAIN"


def delivery_workers() -> list[SingletonWorker]:
    return [relay, *configured_exporters()]


def in_main_process() -> bool:
    """Whether the server's main process runs them (so this worker does not)."""
    return bool(os.environ.get(IN_MAIN))
