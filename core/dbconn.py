"""Connections: parameters for connections of their own (not Django's, not pooled: the
relay's, the NOTIFY listener's, the readiness check's), and the pool's recovery check."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)


def check_pool() -> None:
    """After a database error: have the pool test its idle connections now, so the requests
    after PostgreSQL's return do not each meet a dead one."""
    pool = getattr(connection, "pool", None)
    if pool is not None:
        try:
            pool.check()
        except Exception:  # still away: the pool reconnects as requests come
            logger.debug("pool check failed", exc_info=True)


def conninfo(application_name: str = "tradenet-events-listener") -> dict:
    """psycopg connection parameters for a dedicated connection (not Django's, not pooled):
    DATABASE_DIRECT_URL's, which must be a session of its own (advisory locks, LISTEN).
    Prepared statements are off: should that URL still lead through a transaction pooler,
    psycopg's `_pg3_0` would meet another client's (DuplicatePreparedStatement)."""
    db = settings.TRADENET_DIRECT_DATABASE
    params = {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
    }
    # Named like the process's other connections when PGAPPNAME says so, so they count together.
    params["application_name"] = os.environ.get("PGAPPNAME", application_name)
    options = db.get("OPTIONS", {})
    for key in ("host", "sslmode", "connect_timeout"):
        if key in options:
            params[key] = options[key]
    params = {k: v for k, v in params.items() if v not in (None, "")}
    params["prepare_threshold"] = None
    return params


@contextmanager
def probe_connection(seconds: int = 1):
    """A short connection of its own, never the pool's, that gives up after `seconds` to
    connect and per statement: for probes that must answer while the pool is starved or the
    database away (/readyz)."""
    import psycopg

    params = {**conninfo("tradenet-readyz"), "connect_timeout": seconds}
    with psycopg.connect(**params, autocommit=True) as conn, conn.transaction():
        # SET LOCAL: it ends with the transaction, and so never outlives this probe on a
        # connection a pooler hands to someone else next (a plain SET leaked to other clients).
        conn.execute(f"SET LOCAL statement_timeout = {int(seconds * 1000)}")
        yield conn


@contextmanager
def planned_for_its_values(using: str = "default"):
    """Statements in this block are not prepared, so PostgreSQL plans each for the values it
    is given.

    A list's filters select anything from a handful of rows to most of the table, and a
    prepared statement, after its fifth run, gets PostgreSQL's generic plan: one for average
    values, which walks every shipment of a status in order to find none of one station
    (22 ms at a million rows where the plan for the values takes 0.4). The writes, whose plans
    do not depend on their values, stay prepared (settings.DATABASES)."""
    from django.db import connections

    wrapper = connections[using]
    wrapper.ensure_connection()
    raw = wrapper.connection
    threshold = getattr(raw, "prepare_threshold", None)
    if threshold is None:  # nothing prepared on this connection (a pooler in between)
        yield
        return
    raw.prepare_threshold = None
    try:
        yield
    finally:
        raw.prepare_threshold = threshold
