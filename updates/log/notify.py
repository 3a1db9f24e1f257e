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

from core.dbconn import conninfo

logger = logging.getLogger(__name__)

CHANNEL = "tradenet_events"


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
