"""This process's subscription to the events the relay publishes on Redis (with REDIS_URL).

Redis carries the events themselves, which spares every process a read from storage. It is an
accelerator, not the source of truth: if the subscription drops (Redis restarts, the network
breaks), events keep arriving through PostgreSQL NOTIFY (`updates.log.notify`) and the hub reads
them from storage, so streams neither stop nor need to reconnect. The subscription retries with
backoff; once it is back, the hub catches up from storage (so nothing published while it was
away is missed) and Redis takes over again.
"""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings

from updates.log import eventstream
from updates.streams.metrics import EVENT_TRANSPORT_UP, EVENTS_RECEIVED

logger = logging.getLogger(__name__)

# Seconds between attempts while Redis is away: doubled from the first up to the last.
RETRY_FIRST, RETRY_LAST = 0.5, 5.0
# An idle subscription pings Redis this often, so a connection that died silently (a network
# partition rather than a refused connection) is noticed within about twice this.
HEALTH_CHECK_SECONDS = 5


async def follow(on_subscribed) -> None:
    """Queue every event published on Redis for this process's hub, for as long as the process
    runs. `on_subscribed()` is awaited after each (re)subscription, before the first message."""
    import redis.asyncio as redis

    up = EVENT_TRANSPORT_UP.labels("redis")
    received = EVENTS_RECEIVED.labels("redis")
    up.set(0)
    delay = RETRY_FIRST
    outage_logged = False
    while True:
        client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_connect_timeout=2,
            socket_keepalive=True,
            health_check_interval=HEALTH_CHECK_SECONDS,
        )
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(eventstream.REDIS_CHANNEL)
                # The subscription is in place: anything stored before it is read from storage.
                await on_subscribed()
                up.set(1)
                delay = RETRY_FIRST
                if outage_logged:
                    logger.warning("events arrive through Redis again")
                    outage_logged = False
                while True:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=HEALTH_CHECK_SECONDS
                    )
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        entry = eventstream.entry_from_redis(message["data"])
                    except (ValueError, KeyError, TypeError):
                        logger.warning("skipping a Redis message this version cannot read")
                        continue
                    received.inc()
                    eventstream.queue_in_process([entry])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            up.set(0)
            if not outage_logged:
                logger.warning(
                    "Redis subscription lost (%s: %s); events arrive through PostgreSQL "
                    "meanwhile; retrying",
                    exc.__class__.__name__,
                    exc,
                )
                outage_logged = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_LAST)
        finally:
            await client.aclose()
