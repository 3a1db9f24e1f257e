"""The cluster's database tier: PostgreSQL 15 on tn-db and tn-db2, managed by Patroni, with a
three-member etcd (tn-etcd1..3) holding the leader key, and HAProxy on tn-pgb sending
PRIMARY_PORT to the leader and REPLICA_PORT to the standbys (Patroni's REST checks). PgBouncer,
on the same host, pools PRIMARY_PORT; the app hosts reach the database only through tn-pgb.

Why these settings (docs/deployment.md#failover):
- `synchronous_mode`: a commit returns only once the synchronous standby has it on disk, and
  Patroni promotes only that standby, so a failover loses no acknowledged commit (RPO 0) and
  the relay on the new primary numbers events on from the last one it ever delivered. With
  the standby gone, the primary goes on alone (not `synchronous_mode_strict`): the cluster
  keeps taking trades, without the guarantee, until a standby is back.
- `ttl` 10, `loop_wait` 2, `retry_timeout` 4 (loop_wait + 2 x retry_timeout <= ttl): a leader
  that cannot renew its key demotes itself before the key expires, so an isolated primary is
  read-only before another node may be promoted.
- `use_pg_rewind` (with `wal_log_hints`): a former primary rewinds what it wrote past the new
  timeline and rejoins as a standby by itself.
- HAProxy checks each node's REST API every second (a node it has marked down, every 500 ms);
  a node that stops answering /primary is out after two checks, and `on-marked-down
  shutdown-sessions` closes every connection to it, so the app's sessions (and their advisory
  locks) end there instead of hanging; the new leader is in after its first 200 (Patroni
  answers /primary only while it holds the leader key).
"""

from __future__ import annotations

import json
import os
import shutil
import signal

from hosts import (
    NET,
    PG_BIN,
    STATE,
    addr,
    as_postgres,
    in_ns,
    kill_every_process,
    pg_ready,
    probe,
    run,
    start,
    step,
    stop,
    wait_until,
)  # fmt: skip

DB_HOSTS = ("tn-db", "tn-db2")
ETCD_HOSTS = ("tn-etcd1", "tn-etcd2", "tn-etcd3")
PROXY = "tn-pgb"
PRIMARY_PORT, REPLICA_PORT = 5000, 5001
PATRONI_PORT = 8008
TTL, LOOP_WAIT, RETRY_TIMEOUT = 10, 2, 4
SCOPE = "tradenet"
# TRADENET_CLUSTER_SYNCHRONOUS=0 only to measure what the guarantee costs.
SYNCHRONOUS = os.environ.get("TRADENET_CLUSTER_SYNCHRONOUS", "1") != "0"


def rest(host: str, path: str) -> str:
    return f"http://{addr(host)}:{PATRONI_PORT}{path}"


# -- etcd ---------------------------------------------------------------------------------------


def etcd(host: str) -> None:
    members = ",".join(f"{h}=http://{addr(h)}:2380" for h in ETCD_HOSTS)
    data = STATE / host
    data.mkdir()
    start(f"etcd-{host}", host, [
        "etcd", "--name", host, "--data-dir", str(data),
        "--listen-client-urls", f"http://{addr(host)}:2379",
        "--advertise-client-urls", f"http://{addr(host)}:2379",
        "--listen-peer-urls", f"http://{addr(host)}:2380",
        "--initial-advertise-peer-urls", f"http://{addr(host)}:2380",
        "--initial-cluster", members, "--initial-cluster-token", "tradenet-cluster",
        "--initial-cluster-state", "new",
    ])  # fmt: skip


def etcd_healthy() -> bool:
    return all(probe(f"http://{addr(h)}:2379/health") for h in ETCD_HOSTS)


# -- Patroni ------------------------------------------------------------------------------------


def patroni_config(host: str) -> dict:
    work = STATE / host
    trust = [f"host all all {NET}.0/24 trust", f"host replication all {NET}.0/24 trust",
             "local all all trust"]  # fmt: skip
    return {
        "scope": SCOPE,
        "name": host,
        "log": {"level": "INFO"},
        "restapi": {
            "listen": f"{addr(host)}:{PATRONI_PORT}",
            "connect_address": f"{addr(host)}:{PATRONI_PORT}",
        },
        "etcd3": {"hosts": [f"{addr(h)}:2379" for h in ETCD_HOSTS]},
        "bootstrap": {
            "dcs": {
                "ttl": TTL,
                "loop_wait": LOOP_WAIT,
                "retry_timeout": RETRY_TIMEOUT,
                "maximum_lag_on_failover": 1024 * 1024,
                "synchronous_mode": SYNCHRONOUS,
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
        },
        "postgresql": {
            "listen": f"{addr(host)}:5432",
            "connect_address": f"{addr(host)}:5432",
            "data_dir": str(work / "data"),
            "bin_dir": str(PG_BIN),
            "pgpass": str(work / "pgpass"),
            "authentication": {
                "superuser": {"username": "postgres"},
                "replication": {"username": "postgres"},
                "rewind": {"username": "postgres"},
            },
            "parameters": {"unix_socket_directories": str(work)},
            "pg_hba": trust,
            "remove_data_directory_on_rewind_failure": True,
            "remove_data_directory_on_diverged_timelines": True,
        },
        "tags": {"nofailover": False, "noloadbalance": False},
    }


def patroni(host: str) -> None:
    """Start (or restart, after a crash) the Patroni of `host`; it starts PostgreSQL itself."""
    work = STATE / host
    work.mkdir(exist_ok=True)
    shutil.chown(work, "postgres", "postgres")
    config = work / "patroni.yml"
    config.write_text(json.dumps(patroni_config(host), indent=1))  # YAML reads JSON
    shutil.chown(config, "postgres", "postgres")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "LC_ALL": "C.UTF-8"}
    start(f"patroni-{host}", host, as_postgres("/usr/bin/patroni", str(config)), env=env)


def leader() -> str | None:
    """The node answering Patroni's /primary (asked from tn-client), if one does."""
    return next((host for host in DB_HOSTS if probe(rest(host, "/primary"))), None)


def database_tier() -> None:
    step(f"etcd on {', '.join(ETCD_HOSTS)}")
    for host in ETCD_HOSTS:
        etcd(host)
    wait_until("etcd", etcd_healthy)
    step(f"Patroni and PostgreSQL on {', '.join(DB_HOSTS)} (synchronous mode)")
    patroni(DB_HOSTS[0])
    wait_until("the first Patroni leader", lambda: probe(rest(DB_HOSTS[0], "/primary")), 120)
    run(*in_ns(DB_HOSTS[0], *as_postgres(str(PG_BIN / "psql"), "-h", addr(DB_HOSTS[0]),
        "-U", "postgres", "-c", "CREATE DATABASE tradenet")))  # fmt: skip
    for host in DB_HOSTS[1:]:
        patroni(host)
        role = "/sync" if SYNCHRONOUS else "/replica"
        wait_until(f"{host} as a standby ({role})", lambda h=host, r=role: probe(rest(h, r)), 180)
    haproxy_db()


def haproxy_db() -> None:
    step(f"HAProxy for the database on {PROXY} (:{PRIMARY_PORT} leader, :{REPLICA_PORT} standbys)")
    work = STATE / "dbproxy"
    work.mkdir()

    def servers() -> str:
        return "\n".join(
            f"    server {h} {addr(h)}:5432 check port {PATRONI_PORT}" for h in DB_HOSTS
        )

    (work / "haproxy.cfg").write_text(f"""global
    maxconn 4000
defaults
    mode tcp
    timeout connect 2s
    timeout client 24h
    timeout server 24h
    timeout check 2s
    default-server inter 1s downinter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
listen primary
    bind {addr(PROXY)}:{PRIMARY_PORT}
    option httpchk GET /primary
    http-check expect status 200
{servers()}
listen replicas
    bind {addr(PROXY)}:{REPLICA_PORT}
    balance leastconn
    option httpchk GET /replica
    http-check expect status 200
{servers()}
""")
    start("haproxy-db", PROXY, ["/usr/sbin/haproxy", "-W", "-db", "-f", str(work / "haproxy.cfg")])
    wait_until("the primary through HAProxy", lambda: pg_ready(PROXY, PRIMARY_PORT))


def crash(host: str) -> list[int]:
    """Every process of a database host killed with -9 (Patroni and each PostgreSQL process:
    the postmaster runs in a session of its own, so the host's namespace says which they are)."""
    return kill_every_process(host)


def stop_database_tier() -> None:
    stop("haproxy-db")
    for host in DB_HOSTS:  # Patroni stops its PostgreSQL (fast shutdown) when asked to stop
        stop(f"patroni-{host}", signal.SIGTERM, wait=30)
        kill_every_process(host)
    for host in ETCD_HOSTS:
        stop(f"etcd-{host}")
