"""Probes and metrics, before anything else of Django's (no host check, no HTTPS redirect):
/healthz (alive), /readyz (PostgreSQL answers; Redis and the exporters' lag reported),
/metrics (Prometheus, for the deployment's own scrapers).

Under an ASGI server they are answered on the event loop (`PROBES`, routed by tradenet.routing),
with no thread of the view pool; under a WSGI server (gunicorn tradenet.wsgi, runserver) by
`ProbesMiddleware`, first in the middleware. The answers are the same functions either way.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST

from core.middleware import SyncAndAsyncMiddleware
from core.observability import REQUIRED_SERVICES, readiness, render_metrics
from updates.integrations.exporters import enabled_exporters, exports_lag
from updates.streams import dbthreads
from updates.streams.routes import json_response

HEALTHY = {"status": "ok"}
NOT_A_SCRAPER = {"message": "Metrics are for the deployment's scrapers.", "code": "forbidden"}
# Each check waits at most this long: a probe that hangs is as bad as a failing one.
CHECK_SECONDS = 1.5
_checkers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="probe")


def within(check, seconds: float = CHECK_SECONDS):
    """`check()`'s answer, or TimeoutError after `seconds`: on threads of the probes' own, never
    the pool that requests and streams wait on (they may all be waiting on a database that is
    away)."""
    return _checkers.submit(check).result(timeout=seconds)


def readiness_answer() -> tuple[int, dict]:
    """200 while this replica can serve (PostgreSQL answers), else 503; the body lists every
    check, Redis included, and which optional ones are degraded."""
    try:
        checks = within(readiness)
    except TimeoutError:
        checks = {"postgresql": f"unavailable: no answer within {CHECK_SECONDS} s"}
    ready = all(checks.get(name) == "ok" for name in REQUIRED_SERVICES)
    degraded = sorted(name for name, state in checks.items() if state != "ok")
    body = {"ready": ready, "checks": checks, "degraded": degraded}
    if ready and enabled_exporters():
        # How far behind the exporters are: reported, not a reason to be unready (events wait
        # in the log for them).
        try:
            body["exports"] = within(exports_lag)
        except Exception as exc:
            body["exports"] = {"error": f"{exc.__class__.__name__}"}
    return (200 if ready else 503), body


def may_scrape(authorization: str, client: str | None) -> bool:
    """/metrics is for the deployment's own scrapers: a client address in
    TRADENET_METRICS_ALLOWED_CIDRS (behind a trusted proxy, the address it forwarded), or
    `Authorization: Bearer $TRADENET_METRICS_TOKEN`."""
    token = settings.TRADENET_METRICS_TOKEN
    if token and hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
        return True
    if not client:
        return False
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    return any(address in network for network in settings.TRADENET_METRICS_ALLOWED_CIDRS)


# -- On the event loop (ASGI) --------------------------------------------------------------------


async def serve_health(scope, receive, send) -> None:
    """The process is alive and its event loop answers."""
    await json_response(send, 200, HEALTHY)


async def serve_ready(scope, receive, send) -> None:
    status, body = await asyncio.get_running_loop().run_in_executor(None, readiness_answer)
    await json_response(send, status, body)


async def serve_metrics(scope, receive, send) -> None:
    authorization = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
    client = scope.get("client")
    if not may_scrape(authorization, client[0] if client else None):
        await json_response(send, 403, NOT_A_SCRAPER)
        return
    body = await dbthreads.run(render_metrics)
    headers = [(b"content-type", CONTENT_TYPE_LATEST.encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


PROBES = {"/healthz": serve_health, "/readyz": serve_ready, "/metrics": serve_metrics}


# -- In Django's middleware (WSGI) ---------------------------------------------------------------


class ProbesMiddleware(SyncAndAsyncMiddleware):
    """The same probes under a WSGI server, where no ASGI router stands before Django. First
    in MIDDLEWARE, so a balancer's check (any Host, plain HTTP) reaches it as it would under
    ASGI. Under the ASGI server these paths never get here."""

    def intercept(self, request):
        path = request.path_info.rstrip("/")
        if path not in PROBES:
            return None
        if path == "/healthz":
            return JsonResponse(HEALTHY)
        if path == "/readyz":
            status, body = readiness_answer()
            return JsonResponse(body, status=status)
        meta = request.META
        if not may_scrape(meta.get("HTTP_AUTHORIZATION", ""), meta.get("REMOTE_ADDR")):
            return JsonResponse(NOT_A_SCRAPER, status=403)
        return HttpResponse(render_metrics(), content_type=CONTENT_TYPE_LATEST)
