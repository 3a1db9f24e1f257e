"""Wake-ups sent after a commit, outside every writer's transaction.

A NOTIFY inside a transaction makes PostgreSQL take one lock for the whole database from the
transaction's pre-commit until its commit record is flushed (and, under synchronous
replication, until the standby has it), so that notifications queue in commit order
(src/backend/commands/async.c). Every notifying transaction therefore waits for every other
one's flush: with a NOTIFY in each trade, trades committed one at a time.

So a writer never notifies. `wake(channel)` is called from `transaction.on_commit`: it only
marks the channel and returns. A thread of the process's own sends `NOTIFY channel` on a
connection of its own, in a transaction of nothing else with `synchronous_commit` off: it waits
for no flush and no standby, so it holds that lock for microseconds, and the writers it wakes
for have already committed. Commits that come while one is sent share the next one.

A wake-up is a hint, never the record: the rows are committed before it is sent, and whoever
listens also looks on its own every few seconds (the relay: TRADENET_RELAY_POLL_SECONDS). A
process that dies between its commit and its wake-up, or a database that is away, delays
delivery by at most that; nothing is lost.
"""

from __future__ import annotations

import logging
import os
import threading

from core.dbconn import conninfo

logger = logging.getLogger(__name__)


class Waker:
    """One per process: the channels to notify, and the thread that notifies them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._due = threading.Event()
        self._channels: set[str] = set()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def wake(self, channel: str) -> None:
        """Have `channel` notified soon; never blocks on the database."""
        with self._lock:
            self._channels.add(channel)
            # Started on first use in each process (a forked worker has no thread of its parent's).
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="wakeups", daemon=True)
                self._thread.start()
        self._due.set()

    def _take(self) -> set[str]:
        self._due.wait()
        self._due.clear()
        with self._lock:
            channels, self._channels = self._channels, set()
        return channels

    def _run(self) -> None:
        import psycopg

        conn = None
        while True:
            channels = self._take()
            # Channels are the project's own names, never a client's: safe to write out.
            statement = "; ".join(
                ["BEGIN", "SET LOCAL synchronous_commit = off"]
                + [f"NOTIFY {channel}" for channel in sorted(channels)]
                + ["COMMIT"]
            )
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(**conninfo("tradenet-wakeups"), autocommit=True)
                conn.execute(statement)
            except psycopg.Error as exc:
                # The listeners' own polls find the rows; the next commit tries again.
                logger.warning("wake-up not sent (%s): delivered by the next poll", exc)
                if conn is not None:
                    conn.close()
                conn = None


waker = Waker()


def wake(channel: str) -> None:
    """After a commit (transaction.on_commit): tell whoever LISTENs on `channel`."""
    waker.wake(channel)
