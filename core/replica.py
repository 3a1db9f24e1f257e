"""Reads from a streaming replica (DATABASE_REPLICA_URL), never stale for the writer.

Which reads: only those a view marks (`reads_from_replica`: the API's lists and details of
trades, shipments, stations, the ledger and stock history, the map's data, the admin's lists),
and of those only the tables of apps that say so (`replica_reads` on their AppConfig: trades,
cargo and inventory), less any model that says otherwise (`read_on_primary_only`).
Authentication, sessions, tokens, idempotency keys, the event log, the outbox and every write
stay on the primary, whatever the view: the router below sends them there.

Read-your-writes: after every request that may have written (any method but GET, HEAD and
OPTIONS) by a signed-in user, the primary's WAL position (`pg_current_wal_lsn()`, past that
request's commits) is remembered for that user in the shared cache (Redis, every worker and
host). A marked read asks the replica where it has replayed to, once per request; it reads
there only if the replica has replayed past the caller's last write and lags less than
TRADENET_REPLICA_MAX_LAG_SECONDS behind the primary. Otherwise, or when the replica or Redis
does not answer, the request reads from the primary, without an error. A replica that failed
is skipped for REPLICA_RETRY_SECONDS, so an outage costs one request per process a connect
timeout, not every request.

Why a position and not "the primary for a while after a write": a position is exact. A caller
reads the replica again as soon as it has caught up (usually within milliseconds), and never
too early, however far it lags. Other callers may read the replica a moment behind the
primary (at most the lag limit): what they could not have seen either had they asked a
moment earlier. That includes a station's operators: a removed operator may read that
station's business for at most that long.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import caches
from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.template.response import TemplateResponse
from prometheus_client import Counter

from core.metrics import METRICS
from core.middleware import BothModesMiddleware

logger = logging.getLogger(__name__)

REPLICA = "replica"
PRIMARY = "default"
REPLICA_RETRY_SECONDS = 5.0
CALLER_POSITION_TTL = 600  # longer than any lag the replica is used at
# A position past any WAL: the caller reads from the primary until it is replaced or expires.
PRIMARY_ONLY = "FFFFFFFF/FFFFFFFF"

READS = Counter(
    "tradenet_db_reads_total",
    "Requests whose reads could go to the replica, by where they went and why",
    ["target", "reason"],
    registry=METRICS,
)

_scope: contextvars.ContextVar[ReadScope | None] = contextvars.ContextVar(
    "tradenet_replica_scope", default=None
)
_replica_failed_at = 0.0


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def lsn_value(lsn: str) -> int:
    """'16/B374D848' as a number, to compare WAL positions."""
    high, low = lsn.split("/")
    return (int(high, 16) << 32) + int(low, 16)


# -- The caller's last write ------------------------------------------------------------------


def _position_key(user_id) -> str:
    return f"tradenet:written-to:{user_id}"


def remember_write(user) -> None:
    """After a request of `user` that may have written: remember the primary's WAL position,
    which is past every commit of that request."""
    if not replica_configured() or not getattr(user, "is_authenticated", False):
        return
    try:
        with connections[PRIMARY].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()::text")
            position = cursor.fetchone()[0]
    except (OperationalError, InterfaceError) as exc:
        # The primary went away after the request's own work (a failover: its answer, 201
        # or 503, stands). Where its writes reached is unknown, so the caller reads from
        # the primary until its next write records a position.
        logger.warning("could not read user %s's write position (%s)", user.pk, exc)
        position = PRIMARY_ONLY
    try:
        caches["consistency"].set(_position_key(user.pk), position, CALLER_POSITION_TTL)
    except Exception:
        # Its next reads find no position either while Redis is away, and so use the
        # primary; logged because a Redis back by then would answer with an older one.
        logger.warning("could not remember user %s's last write (Redis away?)", user.pk)


def _caller_position(user_id) -> int | None:
    """The caller's last write position; 0 if none; None if unknown (Redis away)."""
    if user_id is None:
        return 0
    try:
        position = caches["consistency"].get(_position_key(user_id))
    except Exception:
        return None
    return lsn_value(position) if position else 0


# -- The replica's state ----------------------------------------------------------------------

REPLICA_STATE_SQL = """
SELECT pg_is_in_recovery(),
       pg_last_wal_replay_lsn()::text,
       -- Replayed all it received: as current as the primary's last commit it has heard of
       -- (an idle primary sends nothing, and the last replay's age would grow forever).
       -- Nothing replayed since it started, with WAL waiting: as far behind as can be.
       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 1e9)
       END,
       EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')
"""


@dataclass(frozen=True)
class ReplicaState:
    replayed: int
    lag_seconds: float
    streaming: bool


def replica_state() -> ReplicaState | None:
    """Where the replica has replayed to and how far it lags; None if it does not answer or is
    not a standby (a promoted replica must not take reads meant to be checked)."""
    global _replica_failed_at
    if time.monotonic() - _replica_failed_at < REPLICA_RETRY_SECONDS:
        return None
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(REPLICA_STATE_SQL)
            in_recovery, replayed, lag, streaming = cursor.fetchone()
    except (DatabaseError, InterfaceError) as exc:
        _replica_failed(exc)
        return None
    if not in_recovery or replayed is None:
        return None
    return ReplicaState(lsn_value(replayed), float(lag or 0), bool(streaming))


def _replica_failed(exc: Exception) -> None:
    global _replica_failed_at
    _replica_failed_at = time.monotonic()
    logger.warning(
        "replica unavailable (%s: %s); reading from the primary for %.0f s",
        exc.__class__.__name__,
        str(exc).strip()[:200],
        REPLICA_RETRY_SECONDS,
    )
    # Its pooled connections are dead: have the pool test them before the next try.
    pool = getattr(connections[REPLICA], "pool", None)
    if pool is not None:
        try:
            pool.check()
        except Exception:
            logger.debug("replica pool check failed", exc_info=True)


def replica_lag() -> dict[str, float]:
    """For /metrics: the replica's lag in seconds (-1 while it does not answer)."""
    try:
        state = replica_state()
    finally:
        connections[REPLICA].close()  # back to its pool: a metrics thread lives long
    return {REPLICA: -1.0 if state is None else round(state.lag_seconds, 3)}


# -- Choosing, per request --------------------------------------------------------------------


class ReadScope:
    """A marked read: decides once, at its first query, where its reads go."""

    def __init__(self, user_id):
        self.user_id = user_id
        self.target: str | None = None

    def choose(self) -> str:
        if self.target is None:
            self.target, reason = self._decide()
            READS.labels("replica" if self.target == REPLICA else "primary", reason).inc()
        return self.target

    def _decide(self) -> tuple[str, str]:
        needed = _caller_position(self.user_id)
        if needed is None:
            return PRIMARY, "caller_position_unknown"
        state = replica_state()
        if state is None:
            return PRIMARY, "replica_unavailable"
        if not state.streaming or state.lag_seconds > settings.TRADENET_REPLICA_MAX_LAG_SECONDS:
            return PRIMARY, "replica_lagging"
        if state.replayed < needed:
            return PRIMARY, "behind_caller"
        return REPLICA, "fresh"


def reads_from_replica(view: Callable) -> Callable:
    """Mark a read-only view (or a viewset's handler): its trading reads may come from the
    replica. A replica that fails during the view is skipped and the view runs again on the
    primary (it only reads)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        request = _request_of(args)
        if not replica_configured() or request.method not in ("GET", "HEAD"):
            return view(*args, **kwargs)
        user = getattr(request, "user", None)
        scope = ReadScope(user.pk if user is not None and user.is_authenticated else None)
        token = _scope.set(scope)
        try:
            response = view(*args, **kwargs)
            if isinstance(response, TemplateResponse):
                response.render()  # it queries while rendering (the admin's lists)
            return response
        except (OperationalError, InterfaceError) as exc:
            if scope.target != REPLICA:
                raise
            _replica_failed(exc)
        finally:
            _scope.reset(token)
        READS.labels("primary", "replica_failed").inc()
        return view(*args, **kwargs)

    return wrapper


def _request_of(args):
    # A function view's first argument, or a method's second (self, request, ...).
    first = args[0]
    return first if hasattr(first, "method") else args[1]


class ReplicaReadsMixin:
    """For DRF viewsets: the actions in `replica_actions` read as `reads_from_replica` says,
    once authentication, permissions and throttles (all on the primary) have passed."""

    replica_actions: tuple[str, ...] = ("list", "retrieve")

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        method = request.method.lower()
        if self.action in self.replica_actions and method in ("get", "head"):
            setattr(self, method, reads_from_replica(getattr(self, method)))


def replica_readable(model) -> bool:
    """The tables a marked read may take from the replica, as each app and model states it;
    everything else is read on the primary."""
    return getattr(model._meta.app_config, "replica_reads", False) and not getattr(
        model, "read_on_primary_only", False
    )


class ReplicaRouter:
    """DATABASE_ROUTERS: the replica for the trading tables inside a marked read that chose it;
    the primary for everything else, and for every write."""

    def db_for_read(self, model, **hints):
        scope = _scope.get()
        if scope is None or not replica_configured():
            return PRIMARY
        if not replica_readable(model):
            return PRIMARY
        return scope.choose()

    def db_for_write(self, model, **hints):
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the same data on both

    def allow_migrate(self, db, app_label, **hints):
        return db == PRIMARY


class ReadYourWritesMiddleware(BothModesMiddleware):
    """Remembers the caller's write position after every request that may have written."""

    def __call__(self, request):
        if self.async_mode:
            return self._acall(request)
        response = self.get_response(request)
        if self._may_have_written(request):
            remember_write(request.user)
        return response

    async def _acall(self, request):
        response = await self.get_response(request)
        if self._may_have_written(request):
            await sync_to_async(remember_write)(request.user)
        return response

    @staticmethod
    def _may_have_written(request) -> bool:
        return request.method not in ("GET", "HEAD", "OPTIONS") and replica_configured()
