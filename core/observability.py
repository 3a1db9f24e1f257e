"""Health, readiness, Prometheus metrics, request ids and JSON logs."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping

from django.conf import settings
from django.utils.functional import SimpleLazyObject
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from core.metrics import METRICS
from core.middleware import BothModesMiddleware

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
access_log = logging.getLogger("tradenet.access")

HTTP_REQUESTS = Counter(
    "tradenet_http_requests_total", "HTTP requests answered", ["method", "status"], registry=METRICS
)
HTTP_LATENCY = Histogram(
    "tradenet_http_request_duration_seconds",
    "Time to answer HTTP requests (streams excluded)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=METRICS,
)
DB_FIGURES_SECONDS = 5


# Figures read from the database at scrape time, registered by the apps that own the tables
# (see their AppConfig.ready): a name, its help, its label, and a function returning
# {label value: figure}.
DATABASE_FIGURES: list[tuple[str, str, str, Callable[[], Mapping[str, float]]]] = []


def register_database_figure(
    name: str, documentation: str, label: str, read: Callable[[], Mapping[str, float]]
) -> None:
    """Report `read()` in /metrics as the gauge `name{label}` (read at most every
    DB_FIGURES_SECONDS per process)."""
    if all(known != name for known, *_ in DATABASE_FIGURES):
        DATABASE_FIGURES.append((name, documentation, label, read))


class DatabaseCollector:
    """Figures read from PostgreSQL, so every worker reports the same; at most once every
    DB_FIGURES_SECONDS per process, so a scrape flood costs the database nothing more."""

    cached: tuple[float, list] = (0.0, [])

    def collect(self):
        taken, families = DatabaseCollector.cached
        if time.monotonic() - taken > DB_FIGURES_SECONDS:
            families = list(self._read())
            DatabaseCollector.cached = (time.monotonic(), families)
        yield from families

    def _read(self):
        for name, documentation, label, read in DATABASE_FIGURES:
            family = GaugeMetricFamily(name, documentation, labels=[label])
            for value, count in read().items():
                family.add_metric([value], count)
            yield family


def render_metrics() -> bytes:
    """Prometheus text format. Runs on a database thread (the collector queries)."""
    registry = METRICS
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    figures = CollectorRegistry()
    figures.register(DatabaseCollector())
    return generate_latest(registry) + generate_latest(figures)


# The services a replica cannot work without. Redis is not one: while it is away, trades commit
# and events reach every stream through PostgreSQL NOTIFY, so a load balancer should keep
# sending traffic; /readyz still reports it, and so does /metrics.
REQUIRED_SERVICES = ("postgresql",)


def readiness() -> dict[str, str]:
    """Check each backing service; 'ok' or the reason it is not.

    PostgreSQL is checked on a connection of its own with a one-second timeout, never through
    the pool that requests and streams wait on, so /readyz answers within about a second even
    while the pool is starved or the database is away.
    """
    from core.dbconn import probe_connection

    checks = {}
    try:
        with probe_connection() as conn:
            conn.execute("SELECT 1")
        checks["postgresql"] = "ok"
    except Exception as exc:
        checks["postgresql"] = f"unavailable: {exc.__class__.__name__}: {str(exc)[:200]}"
    if settings.REDIS_URL:
        import redis

        try:
            redis.Redis.from_url(
                settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
            ).ping()
            checks["redis"] = "ok"
        except redis.RedisError as exc:
            checks["redis"] = (
                f"unavailable: {exc.__class__.__name__}: {str(exc)[:200]} "
                "(events travel through PostgreSQL meanwhile)"
            )
    return checks


def known_username(request) -> str | None:
    """The signed-in user's name if the request looked the user up; never a query of its own
    for a log line (with the database away, that query turned a 503 page into a 500)."""
    user = getattr(request, "user", None)
    if type(user) is SimpleLazyObject:  # still core.authentication's lazy user: read it or not?
        user = getattr(request, "looked_up_user", None)
    # Otherwise DRF (a token), login() or logout() has put a real user in its place.
    if user is None or not user.is_authenticated:
        return None
    return user.get_username()


class RequestIdMiddleware(BothModesMiddleware):
    """Gives every request an id (X-Request-ID, or a new one), puts it in every log line and in
    the response, logs the request as one JSON line, and counts it for /metrics."""

    def _begin(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else ""
        request.request_id = request_id or uuid.uuid4().hex
        return request_id_var.set(request.request_id), time.perf_counter()

    def _end(self, request, response, token, started):
        elapsed = time.perf_counter() - started
        response["X-Request-ID"] = request.request_id
        HTTP_REQUESTS.labels(request.method, str(response.status_code)).inc()
        HTTP_LATENCY.observe(elapsed)
        access_log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 1),
                "user": known_username(request),
            },
        )
        request_id_var.reset(token)
        return response

    def __call__(self, request):
        if self.async_mode:
            return self._acall(request)
        token, started = self._begin(request)
        return self._end(request, self.get_response(request), token, started)

    async def _acall(self, request):
        token, started = self._begin(request)
        return self._end(request, await self.get_response(request), token, started)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, and any extras."""

    # As the logging docs do it; typeshed types the attribute as a method, bound to the instance.
    converter = time.gmtime  # type: ignore[assignment]

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in vars(record).items():
            if key not in RESERVED and key not in entry and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)
