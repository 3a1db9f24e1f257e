"""Probes and metrics, answered on the event loop before Django (no host check, no HTTPS
redirect, no thread): /healthz (alive), /readyz (PostgreSQL answers; Redis and the exporters'
lag reported), /metrics (Prometheus, for the deployment's own scrapers)."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress

from django.conf import settings
from prometheus_client import CONTENT_TYPE_LATEST

from tradenet.observability import REQUIRED_SERVICES, readiness, render_metrics
from updates.integrations.exporters import enabled_exporters, exports_lag
from updates.streams import dbthreads
from updates.streams.routes import json_response


async def serve_health(scope, receive, send) -> None:
    """The process is alive and its event loop answers."""
    await json_response(send, 200, {"status": "ok"})


async def serve_ready(scope, receive, send) -> None:
    """200 while this replica can serve (PostgreSQL answers), else 503; the body lists every
    check, Redis included, and which optional ones are degraded."""
    # Not on the streams' database threads: they may all be waiting on a database that is away.
    try:
        checks = await asyncio.wait_for(
            asyncio.get_running_loop().run_in_executor(None, readiness), timeout=1.5
        )
    except TimeoutError:
        checks = {"postgresql": "unavailable: no answer within 1.5 s"}
    ready = all(checks.get(name) == "ok" for name in REQUIRED_SERVICES)
    degraded = sorted(name for name, state in checks.items() if state != "ok")
    body = {"ready": ready, "checks": checks, "degraded": degraded}
    if ready and enabled_exporters():
        # How far behind the exporters are: reported, not a reason to be unready (events wait
        # in the log for them).
        try:
            body["exports"] = await asyncio.wait_for(
                asyncio.get_running_loop().run_in_executor(None, exports_lag), timeout=1.5
            )
        except Exception as exc:
            body["exports"] = {"error": f"{exc.__class__.__name__}"}
    await json_response(send, 200 if ready else 503, body)


def may_scrape(scope) -> bool:
    """/metrics is for the deployment's own scrapers: a client address in
    TRADENET_METRICS_ALLOWED_CIDRS (behind a trusted proxy, the address it forwarded), or
    `Authorization: Bearer $TRADENET_METRICS_TOKEN`."""
    token = settings.TRADENET_METRICS_TOKEN
    if token:
        sent = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        if hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return True
    client = scope.get("client")
    if not client:
        return False
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return False
    return any(address in network for network in settings.TRADENET_METRICS_ALLOWED_CIDRS)


async def serve_metrics(scope, receive, send) -> None:
    if not may_scrape(scope):
        await json_response(
            send,
            403,
            {"message": "Metrics are for the deployment's scrapers.", "code": "forbidden"},
        )
        return
    body = await dbthreads.run(render_metrics)
    headers = [(b"content-type", CONTENT_TYPE_LATEST.encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


PROBES = {"/healthz": serve_health, "/readyz": serve_ready, "/metrics": serve_metrics}
