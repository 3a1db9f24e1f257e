"""Cross-process wake-ups through PostgreSQL LISTEN/NOTIFY.

The relay's transaction that stores a batch of events ends with `NOTIFY tradenet_events,
'<last id>'`, delivered when it commits. Each server process listens on one dedicated
connection; a notification past what its hub has delivered makes the hub read the new events
from storage. It needs nothing but PostgreSQL, so it always runs: with REDIS_URL set, Redis
carries the events themselves (and so most notifications find them delivered already), and if
Redis is down, events still arrive this way.
"""

from __future__ import annotations

import asyncio
import logging
import os

from django.conf import settings

logger = logging.getLogger(__name__)

CHANNEL = "tradenet_events"


def conninfo(application_name: str = "tradenet-events-listener") -> dict:
    """psycopg connection parameters for a dedicated connection (not Django's, not pooled)."""
    db = settings.DATABASES["default"]
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
    return {k: v for k, v in params.items() if v not in (None, "")}


async def listen(on_notify) -> None:
    """Call `on_notify(last_id)` for every notification; reconnect when the connection drops."""
    import psycopg

    while True:
        try:
            async with await psycopg.AsyncConnection.connect(autocommit=True, **conninfo()) as conn:
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
