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

import os
import shutil
import signal

import topology
from hosts import (
    LAYOUT,
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

# The hosts, ports and settings are the topology's (deploy/cluster/topology.py), as its
# configurations are: docker-compose.yml's cluster profile is rendered from the same.
DB_HOSTS = LAYOUT.of("database")
ETCD_HOSTS = LAYOUT.of("etcd")
PROXY = LAYOUT.one("dbproxy")
PRIMARY_PORT, REPLICA_PORT = topology.PRIMARY_PORT, topology.REPLICA_PORT
PATRONI_PORT = topology.PATRONI_PORT
# TRADENET_CLUSTER_SYNCHRONOUS=0 only to measure what the guarantee costs.
SYNCHRONOUS = os.environ.get("TRADENET_CLUSTER_SYNCHRONOUS", "1") != "0"


def rest(host: str, path: str) -> str:
    return f"http://{addr(host)}:{PATRONI_PORT}{path}"


# -- etcd ---------------------------------------------------------------------------------------


def etcd(host: str) -> None:
    data = STATE / host
    data.mkdir()
    start(f"etcd-{host}", host, topology.etcd_command(LAYOUT, host, str(data)))


def etcd_healthy() -> bool:
    return all(probe(f"http://{addr(h)}:2379/health") for h in ETCD_HOSTS)


# -- Patroni ------------------------------------------------------------------------------------


def patroni_config(host: str) -> dict:
    work = STATE / host
    return topology.patroni_config(LAYOUT, host, work=str(work), data_dir=str(work / "data"),
                                   bin_dir=str(PG_BIN), synchronous=SYNCHRONOUS)  # fmt: skip


def patroni(host: str) -> None:
    """Start (or restart, after a crash) the Patroni of `host`; it starts PostgreSQL itself."""
    work = STATE / host
    work.mkdir(exist_ok=True)
    shutil.chown(work, "postgres", "postgres")
    config = work / "patroni.yml"
    config.write_text(topology.patroni_json(patroni_config(host)))  # YAML reads JSON
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
    (work / "haproxy.cfg").write_text(topology.dbproxy_cfg(LAYOUT))
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
