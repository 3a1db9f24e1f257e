"""Counting what a piece of code costs PostgreSQL, on the wire (libpq's protocol trace).

Used by the round-trip tests and the write-path benchmark. A round trip is a simple-protocol
Query, or an extended-protocol Sync; BEGIN and COMMIT, which psycopg sends by itself, count too.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection
from psycopg.pq import Trace


@contextmanager
def wire_trace() -> Iterator[list[tuple[str, str]]]:
    """Yields a list that, on exit, holds every message Django's connection (of this thread)
    sent to PostgreSQL meanwhile, as (kind, text)."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    sent: list[tuple[str, str]] = []
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield sent
        finally:
            pgconn.untrace()
            trace.seek(0)
            for line in trace:
                fields = line.split("\t")
                # "F <length> <message> <fields...>", tab-separated: F is what the client sent.
                if fields[0] == "F" and len(fields) > 2:
                    sent.append((fields[2].strip(), "\t".join(fields[3:]).strip()))


def round_trips(sent: list[tuple[str, str]]) -> int:
    return sum(1 for kind, _ in sent if kind in ("Query", "Sync"))
