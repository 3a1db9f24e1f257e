"""A TradeNet cluster on one machine: hosts are network namespaces on a private bridge.

    deploy/cluster/up      build it (as root); prints the addresses and how to reach them
    deploy/cluster/down    stop every process it started (by pid) and delete what it made
    deploy/cluster/status  what runs

Hosts (10.77.0.0/24, no default route anywhere; the bridge lives in a namespace of its own,
so the root namespace has no address on this network and never sends to it):

    tn-db      .10  Patroni + PostgreSQL 15          tn-app1   .21  deploy/start.sh, 2 workers
    tn-db2     .11  Patroni + PostgreSQL 15          tn-app2   .22  deploy/start.sh, 2 workers
    tn-redis   .12  Redis                            tn-lb     .30  HAProxy :80 -> app hosts
    tn-pgb     .13  HAProxy :5000 -> the leader,     tn-edge1  .31  Pushpin :7999 (publish :5561)
                    :5001 -> standbys; PgBouncer     tn-edge2  .32  Pushpin :7999 (publish :5561)
                    :6432 (transaction mode) -> :5000
    tn-mq      .14  RabbitMQ (the event feed)        tn-etcd1..3 .41-.43  etcd (Patroni's DCS)
    tn-client  .50  where clients run

The database tier (Patroni, etcd, synchronous replication, failover) is deploy/cluster/database.py.
The roles, their ports and settings and the configuration each is given are described once in
deploy/cluster/topology.py; this file and database.py render them for the hosts above.

Every client runs inside a namespace: `ip netns exec tn-client curl http://10.77.0.30/healthz`.
State, logs and pid files are in TRADENET_CLUSTER_DIR (default /var/tmp/tradenet-cluster);
`cluster.env` there holds the addresses and a dispatch staff token for clients.

Faults, for the tests and by hand: `cluster.py kill-host|start-host tn-app1|tn-app2`,
`cluster.py crash-host|start-host tn-db|tn-db2` (kill -9 of every process of a database host;
Patroni rejoins it as a standby when started again), `cluster.py cut|heal HOST` (its link down
or up: a partition).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import database
import topology
from hosts import (
    APP_HOSTS,
    EDGES,
    HOSTS,
    LAYOUT,
    ROOT,
    STATE,
    SWITCH,
    addr,
    alive,
    as_postgres,
    cut,
    ensure_packages,
    in_ns,
    make_network,
    pg_ready,
    probe,
    run,
    start,
    step,
    stop,
    wait_until,
)  # fmt: skip

GRIP_KEY_FILE = "grip.key"
AMQP_URL = topology.app_wiring(LAYOUT, "guest:guest")["TRADENET_AMQP_URL"]
EXCHANGE = "tradenet.events"


# -- Services -----------------------------------------------------------------------------------


def redis() -> None:
    step("Redis on tn-redis")
    command = ["redis-server", "--bind", addr("tn-redis"), "--port", "6379", "--save", "",
               "--appendonly", "no", "--protected-mode", "no"]  # fmt: skip
    start("redis", "tn-redis", command)


def rabbitmq() -> None:
    """RabbitMQ for the event feed (TRADENET_AMQP_URL), a node of its own on tn-mq."""
    step("RabbitMQ on tn-mq")
    work = STATE / "mq"
    (work / "log").mkdir(parents=True)
    (work / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = {addr('tn-mq')}:5672\nloopback_users = none\n"
    )
    (work / "enabled_plugins").write_text("[].\n")
    env = {
        "PATH": os.environ["PATH"], "HOME": str(work), "LC_ALL": "C.UTF-8",
        "RABBITMQ_NODENAME": "rabbit@localhost", "RABBITMQ_MNESIA_BASE": str(work / "mnesia"),
        "RABBITMQ_LOG_BASE": str(work / "log"), "RABBITMQ_CONFIG_FILE": str(work / "rabbitmq"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(work / "enabled_plugins"),
        "RABBITMQ_LOGS": "-", "RABBITMQ_DIST_PORT": "25672",
    }  # fmt: skip
    # epmd started here, in the foreground, so that its pid is ours to stop (RabbitMQ would
    # start one that leaves its session).
    start("epmd", "tn-mq", ["epmd", "-address", "127.0.0.1"], env=env)
    start("rabbitmq", "tn-mq", ["/usr/lib/rabbitmq/bin/rabbitmq-server"], env=env)


def rabbitmq_ready() -> bool:
    answer = subprocess.run(in_ns("tn-mq", "bash", "-c", f"exec 3<>/dev/tcp/{addr('tn-mq')}/5672"),
                            capture_output=True)  # fmt: skip
    return answer.returncode == 0


def pgbouncer() -> None:
    step("PgBouncer (transaction mode) on tn-pgb, pooling the leader's port")
    work = STATE / "pgb"
    work.mkdir()
    (work / "users.txt").write_text(topology.PGBOUNCER_USERS)
    (work / "pgbouncer.ini").write_text(topology.pgbouncer_ini(LAYOUT, f"{work}/users.txt"))
    shutil.chown(work, "postgres", "postgres")
    for child in work.iterdir():
        shutil.chown(child, "postgres", "postgres")
    start("pgbouncer", "tn-pgb", as_postgres("/usr/sbin/pgbouncer", str(work / "pgbouncer.ini")))
    wait_until("PgBouncer", lambda: pg_ready("tn-pgb", 6432))


def pushpin(host: str, key: str) -> None:
    step(f"Pushpin on {host}")
    work = STATE / host
    run_dir = work / "run"
    run_dir.mkdir(parents=True)
    (work / "log").mkdir()
    (work / "routes").write_text(topology.edge_routes(LAYOUT))
    replacements = {
        "rundir=": f"rundir={run_dir}",
        "logdir=": f"logdir={work / 'log'}",
        "routesfile=": f"routesfile={work / 'routes'}",
        "sig_key=": f"sig_key={key}",
        "push_in_http_addr=": f"push_in_http_addr={addr(host)}",
        # No update checks, deliveries unthrottled (why: topology.EDGE_SETTINGS).
        **{f"{name}=": f"{name}={value}" for name, value in topology.EDGE_SETTINGS.items()},
    }
    lines = []
    for line in Path("/etc/pushpin/pushpin.conf").read_text().splitlines():
        for prefix, value in replacements.items():
            if line.startswith(prefix):
                line = value
        lines.append(line)
        if line.strip() == "[proxy]":
            lines += [f"zurl_out_specs=ipc://{run_dir}/zurl-in",
                      f"zurl_out_stream_specs=ipc://{run_dir}/zurl-in-stream",
                      f"zurl_in_specs=ipc://{run_dir}/zurl-out"]  # fmt: skip
    (work / "pushpin.conf").write_text("\n".join(lines) + "\n")
    (work / "zurl.conf").write_text(
        "[General]\n"
        f"in_spec=ipc://{run_dir}/zurl-in\nin_stream_spec=ipc://{run_dir}/zurl-in-stream\n"
        f"out_spec=ipc://{run_dir}/zurl-out\nin_req_spec=ipc://{run_dir}/zurl-req\n"
        "defpolicy=allow\ndeny=\nmax_open_requests=20000\nbuffer_size=200000\ntimeout=600\n"
    )
    start(f"zurl-{host}", host, ["zurl", f"--config={work / 'zurl.conf'}"])
    start(f"pushpin-{host}", host, ["pushpin", f"--config={work / 'pushpin.conf'}"])


def app_env(host: str, key: str, secret: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "DJANGO"))},
        # The database through tn-pgb, the feed, Redis, both edges: the topology's wiring.
        **topology.app_wiring(LAYOUT, "guest:guest"),
        "GRIP_KEY": key,
        "DJANGO_SECRET_KEY": secret,
        "DJANGO_ALLOWED_HOSTS": "*",
        "DJANGO_SECURE_SSL_REDIRECT": "0",  # plain HTTP on a private network, no TLS in front
        "DJANGO_SECURE_COOKIES": "0",
        "DJANGO_HSTS_SECONDS": "0",
        "HOST": addr(host),
        "PORT": "8000",
        "WEB_CONCURRENCY": os.environ.get("TRADENET_CLUSTER_WORKERS", str(topology.APP_WORKERS)),
        "FORWARDED_ALLOW_IPS": addr("tn-lb"),
        "PYTHON": str(ROOT / ".venv" / "bin" / "python"),
        "PGAPPNAME": f"tradenet-{host}",
        "DJANGO_STATIC_ROOT": str(STATE / host / "static"),
        "PROMETHEUS_MULTIPROC_DIR": str(STATE / host / "metrics"),
        "TRADENET_WEBHOOK_ALLOW_PRIVATE": "1",
    }


def app_host(host: str) -> None:
    step(f"app host {host} (deploy/start.sh)")
    (STATE / host).mkdir(exist_ok=True)
    env = json.loads((STATE / "app.env.json").read_text())[host]
    start(host, host, [str(ROOT / "deploy" / "start.sh")], env=env)


def start_app_host(host: str) -> None:
    """(Re)start one app host and wait for it to be ready (the cluster tests use this)."""
    app_host(host)
    wait_until(host, lambda: probe(f"http://{addr(host)}:8000/readyz"), timeout=120)


def haproxy() -> None:
    step("HAProxy on tn-lb")
    work = STATE / "lb"
    work.mkdir()
    (work / "503.http").write_text(topology.LB_503)
    (work / "haproxy.cfg").write_text(topology.lb_cfg(LAYOUT, str(work / "503.http")))
    start("haproxy", "tn-lb", ["/usr/sbin/haproxy", "-W", "-db", "-f", str(work / "haproxy.cfg")])
    wait_until("HAProxy", lambda: probe(f"http://{addr('tn-lb')}/readyz"))


def seed(env: dict[str, str]) -> str:
    step("seeding a demo galaxy and a dispatch staff token")
    python = env["PYTHON"]
    run(*in_ns("tn-app1", python, "manage.py", "seed_stations"), cwd=ROOT, env=env)
    made = run(*in_ns("tn-app1", python, "manage.py", "shell", "-c",
        "from django.contrib.auth import get_user_model\n"
        "from knox.models import AuthToken\n"
        "User = get_user_model()\n"
        "user = User.objects.filter(username='dispatch').first() or "
        "User.objects.create_superuser('dispatch', password=None)\n"
        "print(AuthToken.objects.create(user=user)[1])\n"), cwd=ROOT, env=env)  # fmt: skip
    return made.stdout.strip().splitlines()[-1]


# -- Commands -----------------------------------------------------------------------------------


def up() -> None:
    if os.geteuid() != 0:
        raise SystemExit("cluster: run as root (network namespaces, services as their users)")
    if (STATE / "pids").exists():
        raise SystemExit(f"cluster: one is up already ({STATE}); deploy/cluster/down first")
    ensure_packages()
    step("the project's virtualenv (make .venv/.installed-serve)")
    subprocess.run(["make", "-s", ".venv/.installed-serve"], cwd=ROOT, check=True)
    (STATE / "pids").mkdir(parents=True)
    (STATE / "logs").mkdir()
    key, secret = secrets.token_urlsafe(32), secrets.token_urlsafe(50)
    (STATE / GRIP_KEY_FILE).write_text(key)
    (STATE / "app.env.json").write_text(
        json.dumps({host: app_env(host, key, secret) for host in APP_HOSTS})
    )
    try:
        make_network()
        database.database_tier()
        redis()
        rabbitmq()
        pgbouncer()
        wait_until("RabbitMQ", rabbitmq_ready, 120)
        for edge in EDGES:
            pushpin(edge, key)
        for host in APP_HOSTS:  # one after the other: the first migrates
            start_app_host(host)
        haproxy()
        token = seed(json.loads((STATE / "app.env.json").read_text())["tn-app1"])
        for edge in EDGES:
            wait_until(edge, lambda edge=edge: probe(f"http://{addr(edge)}:7999/healthz"))
    except BaseException:
        kept = STATE.with_name(STATE.name + "-failed-logs")
        shutil.rmtree(kept, ignore_errors=True)
        shutil.copytree(STATE / "logs", kept)
        print(f"cluster: start failed; its logs are kept in {kept}. Cleaning up.", file=sys.stderr)
        down()
        raise
    info = {
        "LB": f"http://{addr('tn-lb')}",
        "EDGES": ",".join(f"http://{addr(edge)}:7999" for edge in EDGES),
        "APPS": ",".join(f"http://{addr(host)}:8000" for host in APP_HOSTS),
        # The leader and the standbys, whichever nodes they are now (HAProxy on tn-pgb).
        "PRIMARY": f"postgres://postgres@{addr('tn-pgb')}:{database.PRIMARY_PORT}/tradenet",
        "REPLICA": f"postgres://postgres@{addr('tn-pgb')}:{database.REPLICA_PORT}/tradenet",
        "DB_HOSTS": ",".join(database.DB_HOSTS),
        "AMQP": AMQP_URL,
        "EXCHANGE": EXCHANGE,
        "PGBOUNCER": f"postgres://postgres@{addr('tn-pgb')}:6432/tradenet",
        "TOKEN": token,
        "CLIENT_NS": "tn-client",
    }
    (STATE / "cluster.env").write_text("".join(f"{k}={v}\n" for k, v in info.items()))
    print(f"""
TradeNet cluster up. Clients run in the tn-client namespace, for example:
  ip netns exec tn-client curl -H 'Authorization: Token {token}' {info["LB"]}/api/trades/
  ip netns exec tn-client curl -N -H 'Authorization: Token {token}' \\
      http://{addr("tn-edge1")}:7999/api/updates/real-time/
Addresses, the token and logs: {STATE}/cluster.env, {STATE}/logs/. Stop: deploy/cluster/down""")


def down() -> None:
    pids = STATE / "pids"
    if pids.exists():
        step("stopping the cluster's processes")
        # The load balancer and the app hosts first, the databases last.
        order = ["haproxy", *APP_HOSTS, *(f"pushpin-{e}" for e in EDGES),
                 *(f"zurl-{e}" for e in EDGES), "pgbouncer", "redis", "rabbitmq",
                 "epmd"]  # fmt: skip
        for name in order:
            stop(name)
        database.stop_database_tier()
        for path in sorted(pids.glob("*.pid")):  # anything else it started
            stop(path.stem)
    existing = set(run("ip", "netns", "list").stdout.split())
    for host in [*HOSTS, SWITCH]:
        if host in existing:
            run("ip", "netns", "delete", host, check=False)
    if STATE.exists():
        shutil.rmtree(STATE)
    step("cluster down")


def status() -> None:
    pids = STATE / "pids"
    if not pids.exists():
        print("no cluster")
        return
    for path in sorted(pids.glob("*.pid")):
        print(f"{path.stem:24} {'running' if alive(int(path.read_text())) else 'stopped'}")


def kill_host(host: str) -> None:
    """kill -9 of every process of an app host (a crash, as the fault tests make one)."""
    stop(host, signal.SIGKILL, wait=10)


def start_host(host: str) -> None:
    if host in APP_HOSTS:
        start_app_host(host)
    else:  # a database host back from a crash: Patroni rejoins it as a standby by itself
        database.patroni(host)


def crash_host(host: str) -> None:
    print(" ".join(map(str, database.crash(host))))


if __name__ == "__main__":
    commands = {"up": up, "down": down, "status": status}
    host_commands = {
        "start-host": (start_host, (*APP_HOSTS, *database.DB_HOSTS)),
        "kill-host": (kill_host, APP_HOSTS),
        "crash-host": (crash_host, database.DB_HOSTS),
        "cut": (lambda host: cut(host, down=True), tuple(HOSTS)),
        "heal": (lambda host: cut(host, down=False), tuple(HOSTS)),
    }
    if len(sys.argv) == 3 and sys.argv[2] in host_commands.get(sys.argv[1], (None, ()))[1]:
        host_commands[sys.argv[1]][0](sys.argv[2])
    elif len(sys.argv) == 2 and sys.argv[1] in commands:
        commands[sys.argv[1]]()
    else:
        raise SystemExit(
            "usage: deploy/cluster/cluster.py up|down|status, start-host|kill-host tn-app1|2, "
            "crash-host|start-host tn-db|tn-db2, or cut|heal HOST"
        )
