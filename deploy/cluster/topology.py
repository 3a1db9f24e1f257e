"""The cluster's topology, described once: its roles and how many hosts play each, the ports,
the settings that matter, and the configuration each role is given, rendered for a deployment.

A deployment is a Layout: which hosts play each role, and how one host reaches another. The
namespace cluster (deploy/cluster/up, proven by tests/deploy/cluster/) renders these for hosts on
10.77.0.0/24 (deploy/cluster/hosts.py); deploy/compose/render.py renders the very same
functions for the services of docker-compose.yml's cluster profile, and writes the files under
deploy/compose/ that they mount (tests/deploy/test_compose.py checks the committed ones are
its output).
Standard library only: deploy/cluster runs on the machine's own python3.

Why the database settings: deploy/cluster/database.py (docs/deployment.md#failover).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# Every role, and how many hosts play it.
ROLES = {
    "etcd": 3,  # Patroni's DCS: the leader key
    "database": 2,  # Patroni + PostgreSQL: one leader, one synchronous standby
    "dbproxy": 1,  # HAProxy: PRIMARY_PORT to the leader, REPLICA_PORT to the standbys
    "pgbouncer": 1,  # transaction pooling of PRIMARY_PORT
    "redis": 1,
    "mq": 1,  # RabbitMQ: the event feed
    "app": 2,  # deploy/start.sh
    "lb": 1,  # HAProxy in front of the app hosts
    "edge": 2,  # Pushpin, its origin the load balancer
}

# Which hosts play them: network namespaces (deploy/cluster) and compose services.
NAMESPACE_HOSTS = {
    "etcd": ("tn-etcd1", "tn-etcd2", "tn-etcd3"),
    "database": ("tn-db", "tn-db2"),
    "dbproxy": ("tn-pgb",),
    "pgbouncer": ("tn-pgb",),  # one host, beside the database's HAProxy
    "redis": ("tn-redis",),
    "mq": ("tn-mq",),
    "app": ("tn-app1", "tn-app2"),
    "lb": ("tn-lb",),
    "edge": ("tn-edge1", "tn-edge2"),
}
COMPOSE_HOSTS = {
    "etcd": ("etcd1", "etcd2", "etcd3"),
    "database": ("db1", "db2"),
    "dbproxy": ("dbproxy",),
    "pgbouncer": ("pgbouncer",),  # a container each
    "redis": ("redis",),  # the one machine's own, shared
    "mq": ("rabbitmq",),  # the feed profile's, shared
    "app": ("app1", "app2"),
    "lb": ("lb",),
    "edge": ("edge1", "edge2"),
}

POSTGRES_PORT = 5432
PATRONI_PORT = 8008
ETCD_CLIENT_PORT, ETCD_PEER_PORT = 2379, 2380
PRIMARY_PORT, REPLICA_PORT = 5000, 5001
PGBOUNCER_PORT = 6432
REDIS_PORT = 6379
AMQP_PORT = 5672
APP_PORT = 8000
LB_PORT = 80
EDGE_PORT, PUBLISH_PORT = 7999, 5561

SCOPE = "tradenet"  # Patroni's cluster name
DATABASE = "tradenet"
TTL, LOOP_WAIT, RETRY_TIMEOUT = 10, 2, 4  # loop_wait + 2 x retry_timeout <= ttl
POOL_SIZE = 20  # PgBouncer's server connections
APP_WORKERS = 2  # uvicorn processes per app host
APP_MAXCONN = 16  # requests at a time per app host in HAProxy: its view threads, 2 workers x 8
# Debian's pushpin.conf limits deliveries to 2,500 a second, queueing up to 25,000 and dropping
# the rest: 10,000 streams take more than that from a few trades a second (every delivery
# counts). Unlimited here; what Pushpin cannot deliver at once it queues per stream, and a
# stream that loses some recovers them from the log (sequence.py).
EDGE_SETTINGS = {"updates_check": "off", "message_rate": "-1", "message_hwm": "-1"}


@dataclass(frozen=True)
class Layout:
    """A deployment: the hosts of each role, the address others reach a host at (its name
    when absent), the address its servers bind (its own, unless `everywhere`), and the
    network whose clients PostgreSQL trusts."""

    hosts: dict[str, tuple[str, ...]]
    addresses: dict[str, str]
    network: str
    everywhere: str | None = None

    def of(self, role: str) -> tuple[str, ...]:
        return self.hosts[role]

    def one(self, role: str) -> str:
        (host,) = self.hosts[role]
        return host

    def addr(self, host: str) -> str:
        return self.addresses.get(host, host)

    def bind(self, host: str) -> str:
        return self.everywhere or self.addr(host)


# -- etcd and Patroni ---------------------------------------------------------------------------


def etcd_command(layout: Layout, host: str, data_dir: str) -> list[str]:
    members = ",".join(f"{h}=http://{layout.addr(h)}:{ETCD_PEER_PORT}" for h in layout.of("etcd"))
    return [
        "etcd", "--name", host, "--data-dir", data_dir,
        "--listen-client-urls", f"http://{layout.bind(host)}:{ETCD_CLIENT_PORT}",
        "--advertise-client-urls", f"http://{layout.addr(host)}:{ETCD_CLIENT_PORT}",
        "--listen-peer-urls", f"http://{layout.bind(host)}:{ETCD_PEER_PORT}",
        "--initial-advertise-peer-urls", f"http://{layout.addr(host)}:{ETCD_PEER_PORT}",
        "--initial-cluster", members, "--initial-cluster-token", "tradenet-cluster",
        "--initial-cluster-state", "new",
    ]  # fmt: skip


def patroni_config(
    layout: Layout, host: str, *, work: str, data_dir: str, bin_dir: str, synchronous: bool,
    post_bootstrap: str | None = None,
) -> dict:  # fmt: skip
    """Patroni's configuration of `host` (written as JSON, which YAML reads). `work` holds its
    pgpass and PostgreSQL's socket; `post_bootstrap` is run once the first leader is up."""
    net = layout.network
    trust = [f"host all all {net} trust", f"host replication all {net} trust",
             "local all all trust"]  # fmt: skip
    bootstrap = {
        "dcs": {
            "ttl": TTL,
            "loop_wait": LOOP_WAIT,
            "retry_timeout": RETRY_TIMEOUT,
            "maximum_lag_on_failover": 1024 * 1024,
            "synchronous_mode": synchronous,
            "postgresql": {
                "use_pg_rewind": True,
                "use_slots": True,
                "parameters": {
                    "max_connections": 200,
                    "wal_level": "replica",
                    "wal_log_hints": "on",
                    "hot_standby": "on",
                    "hot_standby_feedback": "on",
                    "max_wal_senders": 10,
                    "max_replication_slots": 10,
                    "wal_keep_size": "256MB",
                },
            },
        },
        "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}],
        "pg_hba": trust,
    }
    if post_bootstrap:
        bootstrap["post_bootstrap"] = post_bootstrap
    return {
        "scope": SCOPE,
        "name": host,
        "log": {"level": "INFO"},
        "restapi": {
            "listen": f"{layout.bind(host)}:{PATRONI_PORT}",
            "connect_address": f"{layout.addr(host)}:{PATRONI_PORT}",
        },
        "etcd3": {"hosts": [f"{layout.addr(h)}:{ETCD_CLIENT_PORT}" for h in layout.of("etcd")]},
        "bootstrap": bootstrap,
        "postgresql": {
            "listen": f"{layout.bind(host)}:{POSTGRES_PORT}",
            "connect_address": f"{layout.addr(host)}:{POSTGRES_PORT}",
            "data_dir": data_dir,
            "bin_dir": bin_dir,
            "pgpass": f"{work}/pgpass",
            "authentication": {
                "superuser": {"username": "postgres"},
                "replication": {"username": "postgres"},
                "rewind": {"username": "postgres"},
            },
            "parameters": {"unix_socket_directories": work},
            "pg_hba": trust,
            "remove_data_directory_on_rewind_failure": True,
            "remove_data_directory_on_diverged_timelines": True,
        },
        "tags": {"nofailover": False, "noloadbalance": False},
    }


def patroni_json(config: dict) -> str:
    return json.dumps(config, indent=1)


# -- The database's HAProxy and PgBouncer -------------------------------------------------------


def resolvers(dns: str | None) -> str:
    """With `dns` (containers, whose addresses change as they restart): a resolvers section
    HAProxy asks again at run time, and servers that start unresolved instead of failing."""
    return f"resolvers dns\n    nameserver dns {dns}\n    hold valid 1s\n" if dns else ""


def dbproxy_cfg(layout: Layout, dns: str | None = None) -> str:
    """HAProxy sending PRIMARY_PORT to the node answering Patroni's /primary and REPLICA_PORT to
    those answering /replica (why its timings: deploy/cluster/database.py)."""
    proxy = layout.one("dbproxy")
    resolve = " resolvers dns init-addr libc,none" if dns else ""
    servers = "\n".join(
        f"    server {h} {layout.addr(h)}:{POSTGRES_PORT} check port {PATRONI_PORT}"
        for h in layout.of("database")
    )
    return f"""global
    maxconn 4000
{resolvers(dns)}defaults
    mode tcp
    timeout connect 2s
    timeout client 24h
    timeout server 24h
    timeout check 2s
    default-server inter 1s downinter 500ms fall 2 rise 1 on-marked-down shutdown-sessions{resolve}
listen primary
    bind {layout.bind(proxy)}:{PRIMARY_PORT}
    option httpchk GET /primary
    http-check expect status 200
{servers}
listen replicas
    bind {layout.bind(proxy)}:{REPLICA_PORT}
    balance leastconn
    option httpchk GET /replica
    http-check expect status 200
{servers}
"""


PGBOUNCER_USERS = '"postgres" ""\n'


def pgbouncer_ini(layout: Layout, auth_file: str) -> str:
    proxy = layout.addr(layout.one("dbproxy"))
    return f"""[databases]
{DATABASE} = host={proxy} port={PRIMARY_PORT} dbname={DATABASE} user=postgres
[pgbouncer]
listen_addr = {layout.bind(layout.one("pgbouncer"))}
listen_port = {PGBOUNCER_PORT}
unix_socket_dir =
auth_type = trust
auth_file = {auth_file}
pool_mode = transaction
default_pool_size = {POOL_SIZE}
; SHOW POOLS / SHOW SERVERS on the admin console (psql ... -p 6432 -d pgbouncer)
admin_users = postgres
max_client_conn = 2000
ignore_startup_parameters = extra_float_digits,options
; During a failover: try the new leader every second (not every 15 s), and answer a client
; that waited 5 s for a server with an error (the API's 503) rather than hold it for 2 min.
server_login_retry = 1
server_connect_timeout = 2
query_wait_timeout = 5
"""


# -- The app hosts ------------------------------------------------------------------------------


def app_wiring(layout: Layout, amqp_login: str) -> dict[str, str]:
    """What an app host is told of the others: requests through PgBouncer, sessions (the
    relay, locks, LISTEN, migrations) to the leader's port, reads from the standbys' port, the
    event feed, Redis, and every edge to publish to."""
    pgb = layout.addr(layout.one("pgbouncer"))
    proxy = layout.addr(layout.one("dbproxy"))
    return {
        "DATABASE_URL": f"postgres://postgres@{pgb}:{PGBOUNCER_PORT}/{DATABASE}",
        "DATABASE_DIRECT_URL": f"postgres://postgres@{proxy}:{PRIMARY_PORT}/{DATABASE}",
        "DATABASE_REPLICA_URL": f"postgres://postgres@{proxy}:{REPLICA_PORT}/{DATABASE}",
        "TRADENET_AMQP_URL": f"amqp://{amqp_login}@{layout.addr(layout.one('mq'))}:{AMQP_PORT}/%2F",
        "REDIS_URL": f"redis://{layout.addr(layout.one('redis'))}:{REDIS_PORT}/0",
        "GRIP_URL": ",".join(f"http://{layout.addr(e)}:{PUBLISH_PORT}" for e in layout.of("edge")),
    }


# -- The load balancer and the edges ------------------------------------------------------------

# With no app host ready (each reports the database away on /readyz while it fails over),
# HAProxy answers itself: a 503 the API's clients know, with Retry-After, as a host would.
_UNAVAILABLE = json.dumps({"message": "No TradeNet host can answer now (the database may be "
                           "failing over); try again shortly.", "code": "unavailable"})  # fmt: skip
LB_503 = (
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    f"Retry-After: 5\r\nCache-Control: no-store\r\nContent-Length: {len(_UNAVAILABLE)}\r\n"
    f"Connection: close\r\n\r\n{_UNAVAILABLE}"
)


def lb_cfg(layout: Layout, errorfile: str, dns: str | None = None) -> str:
    """HAProxy in front of the app hosts; `errorfile` is where LB_503 is."""

    # Requests: at most a host's view threads (2 workers x 8) each, the rest queued here, where
    # waiting costs nothing, so an app host under a burst still answers its health check at
    # once (HAProxy marked both hosts down when they took 200 clients at a time and answered
    # 503 to everyone). Streams are long and hold no thread: a backend of their own, unqueued.
    # The check has 3 s and 3 tries (a loaded host is slow, not gone); a host that is gone
    # refuses connections, and those requests go to the other host at once (redispatch). A
    # host marked down is checked every 500 ms and back with its first 200: after a database
    # failover, both hosts are (/readyz), and every second of waiting is one without trades.
    def servers(extra: str) -> str:
        return "\n".join(
            f"    server {host} {layout.addr(host)}:{APP_PORT} check inter 1s downinter 500ms"
            f" fall 3 rise 1{extra}"
            for host in layout.of("app")
        )

    resolve = "    default-server resolvers dns init-addr libc,none\n" if dns else ""
    return f"""global
    maxconn 9000
{resolvers(dns)}defaults
    mode http
    errorfile 503 {errorfile}
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout queue 60s
    timeout check 3s
    timeout http-request 10s
    # A client's idle connection ends here after 60 s: before the app's own keep-alive (75 s,
    # deploy/serve.sh), so it is never the app that closes a connection a request is being
    # sent on. To the app, a connection per request (http-server-close): no idle one to race.
    timeout http-keep-alive 60s
    option http-server-close
    option redispatch
    retry-on conn-failure empty-response
    retries 2
{resolve}frontend web
    bind {layout.bind(layout.one("lb"))}:{LB_PORT}
    acl stream path_beg /api/updates/
    use_backend streams if stream
    default_backend apps
backend apps
    balance leastconn
    option httpchk GET /readyz
    http-check expect status 200
{servers(f" maxconn {APP_MAXCONN}")}
backend streams
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
{servers("")}
"""


def edge_routes(layout: Layout) -> str:
    """Pushpin's routes: its origin is the load balancer, so any app host answers holds and
    next links."""
    return f"* {layout.addr(layout.one('lb'))}:{LB_PORT}\n"
