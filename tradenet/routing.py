"""The project's ASGI application, put together: probes and metrics (`tradenet.probes`), event
streams (`updates.streams.routes`) on the event loop, everything else to Django; and, in its
lifespan, the background workers this process runs (`updates.delivery`) and the Redis feed."""

from __future__ import annotations

import asyncio

from core import staticcheck
from tradenet.probes import PROBES
from tradenet.serving import exit_with_parent
from updates.delivery import server_process_workers
from updates.log import eventstream
from updates.streams import redis_feed
from updates.streams.hub import hub
from updates.streams.routes import (
    end_streams_on_shutdown_signals,
    match,
    serve_status,
    serve_stream,
)


class EventStreamRouter:
    """The project's ASGI application: event streams here, everything else to Django."""

    def __init__(self, django_app):
        self.django_app = django_app
        self._workers: list = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            if scope["path"] == "/api/updates/status/":
                await serve_status(scope, receive, send, self._workers_status)
                return
            probe = PROBES.get(scope["path"].rstrip("/"))
            if probe is not None:
                await probe(scope, receive, send)
                return
            route = match(scope["path"])
            if route is not None:
                await serve_stream(scope, receive, send, *route)
                return
            await self.django_app(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        else:
            await self.django_app(scope, receive, send)

    def _workers_status(self) -> dict:
        return {"workers": {w.thread_name: {"active": w.active} for w in self._workers}}

    async def _lifespan(self, receive, send) -> None:
        feed = None
        # The relay; the exporters too, unless the server's main process runs them.
        workers = self._workers = server_process_workers()
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                refusal = staticcheck.problem()
                if refusal is not None:
                    # uvicorn logs this, and stops: a worker that fails to start is not retried.
                    await send({"type": "lifespan.startup.failed", "message": refusal})
                    return
                end_streams_on_shutdown_signals(asyncio.get_running_loop())
                exit_with_parent()
                for worker in workers:  # one of each active per deployment
                    worker.start()
                if eventstream.redis_enabled():
                    feed = asyncio.get_running_loop().create_task(redis_feed.follow(hub.catch_up))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                hub.close_all()
                if feed is not None:
                    feed.cancel()
                for worker in workers:
                    await asyncio.get_running_loop().run_in_executor(None, worker.stop)
                await send({"type": "lifespan.shutdown.complete"})
                return
