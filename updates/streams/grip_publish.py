"""Publishing to each Pushpin of GRIP_URL, off the relay's thread.

The relay hands every batch's items to one `Publisher` per Pushpin (`submit` only queues), and
each publisher's thread POSTs what is queued, in order, in one request. A Pushpin that answers
slowly or not at all delays only its own clients: the relay, the other Pushpins and the
servers' own streams go on. A batch it refuses is tried again (backing off up to
RETRY_LAST seconds) for up to GIVE_UP_SECONDS, then dropped with an error: by then that
Pushpin is down, its clients have lost their connections, and they resume with Last-Event-ID.
A queue longer than MAX_QUEUED batches drops its oldest the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from django.conf import settings

from updates.streams import grip, sequence

logger = logging.getLogger(__name__)

MAX_QUEUED = 1000
RETRY_FIRST, RETRY_LAST = 0.2, 2.0
GIVE_UP_SECONDS = 30.0


class Publisher:
    def __init__(self, url: str):
        self.url = url
        self.queue: deque[list[dict]] = deque()
        self.ready = threading.Condition()
        self.thread = threading.Thread(target=self._run, name=f"pushpin {url}", daemon=True)
        self.thread.start()

    def submit(self, items: list[dict]) -> None:
        with self.ready:
            if len(self.queue) >= MAX_QUEUED:
                self.queue.popleft()
                logger.error("Pushpin %s is %d batches behind: dropping the oldest", self.url,
                             MAX_QUEUED)  # fmt: skip
            self.queue.append(items)
            self.ready.notify()

    def _take(self) -> list[dict]:
        with self.ready:
            while not self.queue:
                self.ready.wait()
            items = []
            while self.queue:  # everything queued, in order, in one request
                items += self.queue.popleft()
            return items

    def _run(self) -> None:
        while True:
            items = self._take()
            started, delay = time.monotonic(), RETRY_FIRST
            while True:
                try:
                    grip.post(self.url, items)
                    break
                except Exception as exc:
                    if time.monotonic() - started > GIVE_UP_SECONDS:
                        logger.error("Pushpin %s took no events for %.0f s (%s): dropped %d "
                                     "items; its clients resume on reconnecting", self.url,
                                     GIVE_UP_SECONDS, exc, len(items))  # fmt: skip
                        break
                    time.sleep(delay)
                    delay = min(delay * 2, RETRY_LAST)


def publish_if_enabled(entries) -> None:
    """The relay's publisher (registered in updates.apps): each batch, to every Pushpin of
    GRIP_URL, handed to that Pushpin's own publishing thread, so a slow or absent Pushpin never
    holds up the relay."""
    if not grip.enabled():
        return
    # Numbered for Pushpin's prev-id checks before any Pushpin gets them (sequence.py), with
    # any events a failed batch left out before them.
    items = sequence.number(entries, grip.items_for)
    if items:
        for publisher in publishers():
            publisher.submit(items)


_publishers: dict[str, Publisher] = {}
_lock = threading.Lock()


def publishers() -> list[Publisher]:
    """This process's publisher for each Pushpin of GRIP_URL (started on first use)."""
    with _lock:
        for url in settings.GRIP_URLS:
            if url not in _publishers:
                _publishers[url] = Publisher(url)
        return [_publishers[url] for url in settings.GRIP_URLS]
