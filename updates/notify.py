"""Cross-process delivery without Redis: PostgreSQL LISTEN/NOTIFY.

Every batch of stored events is followed by `NOTIFY tradenet_events, '<last id>'`. Each server
process listens on one dedicated connection; a notification past what its hub has delivered makes
the hub read the new events from storage. So with `make run` (one process, no Redis), changes made
by a management command or the shell still reach open streams at once. With REDIS_URL set, Redis
carries the events and this stays off.
"""

from __future__ import annotations

import asyncio
import logging
import os

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

CHANNEL = "tradenet_events"


def enabled() -> bool:
    return not getattr(settings, "EVENTSTREAM_REDIS", None)


def notify(last_id: int) -> None:
    """Tell listening processes that events up to `last_id` are stored (after commit)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, str(last_id)])


def _conninfo() -> dict:
    db = settings.DATABASES["default"]
    params = {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
    }
    # Named like the process's other connections when PGAPPNAME says so, so they count together.
    params["application_name"] = os.environ.get("PGAPPNAME", "tradenet-events-listener")
    options = db.get("OPTIONS", {})
    for key in ("host", "sslmode", "connect_timeout"):
        if key in options:
            params[key] = options[key]
    return {k: v for k, v in params.items() if v not in (None, "")}


async def listen(on_notify) -> None:
    """Call `on_notify(last_id)` for every notification; reconnect when the connection drops."""
    import psycopg

    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                autocommit=True, **_conninfo()
            ) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                # Anything stored while we were not listening.
                await on_notify(None)
                async for message in conn.notifies():
                    payload = message.payload
                    await on_notify(int(payload) if payload.isdigit() else None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("event notifications lost (%s); listening again in 1 s", exc)
            await asyncio.sleep(1)
