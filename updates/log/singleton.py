"""A thread every server process runs, of which one is active per deployment.

It holds a PostgreSQL advisory lock on a connection of its own while it works; the others try
for the lock every TRADENET_RELAY_STANDBY_SECONDS. The lock belongs to the connection, so when
the active process dies, PostgreSQL releases it and a standby takes over. The relay and the
exporters are such threads.
"""

from __future__ import annotations

import logging
import threading

import psycopg
from django.conf import settings

from core.dbconn import conninfo

logger = logging.getLogger(__name__)


class SingletonWorker:
    """Subclasses set `lock_key`, `thread_name` and `application_name`, and do their work in
    `serve(conn)` while `self.stopping` is not set."""

    lock_key: int
    thread_name = "singleton-worker"
    application_name = "tradenet-worker"

    def __init__(self):
        self.active = False
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self.stopping.clear()
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                with psycopg.connect(autocommit=True, **conninfo(self.application_name)) as conn:
                    if self._acquire(conn):
                        self.active = True
                        self.serve(conn)
            except Exception as exc:
                if self.active:
                    logger.warning(
                        "%s lost its database (%s); retrying in 1 s", self.thread_name, exc
                    )
                self.active = False
                self.stopping.wait(1)
            finally:
                self.disconnected()
        self.active = False

    def _acquire(self, conn) -> bool:
        while not self.stopping.is_set():
            if conn.execute("SELECT pg_try_advisory_lock(%s)", [self.lock_key]).fetchone()[0]:
                return True
            self.stopping.wait(settings.TRADENET_RELAY_STANDBY_SECONDS)
        return False

    def serve(self, conn) -> None:
        raise NotImplementedError

    def disconnected(self) -> None:
        """After each spell on a connection (its end, or a failure)."""
