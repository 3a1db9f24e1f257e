"""A TradeNet cluster on one machine: hosts are network namespaces on a private bridge.

    deploy/cluster/up      build it (as root); prints the addresses and how to reach them
    deploy/cluster/down    stop every process it started (by pid) and delete what it made
    deploy/cluster/status  what runs

Hosts (10.77.0.0/24, no default route anywhere; the bridge lives in a namespace of its own,
so the root namespace has no address on this network and never sends to it):

    tn-db      .10  PostgreSQL 15 primary            tn-app1   .21  deploy/start.sh, 2 workers
    tn-db2     .11  its streaming replica            tn-app2   .22  deploy/start.sh, 2 workers
    tn-redis   .12  Redis                            tn-lb     .30  HAProxy :80 -> app hosts
    tn-pgb     .13  PgBouncer, transaction mode      tn-edge1  .31  Pushpin :7999 (publish :5561)
    tn-client  .50  where clients run                tn-edge2  .32  Pushpin :7999 (publish :5561)

Every client runs inside a namespace: `ip netns exec tn-client curl http://10.77.0.30/healthz`.
State, logs and pid files are in TRADENET_CLUSTER_DIR (default /var/tmp/tradenet-cluster);
`cluster.env` there holds the addresses and a dispatch staff token for clients.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("TRADENET_CLUSTER_DIR", "/var/tmp/tradenet-cluster"))
SWITCH = "tn-switch"
BRIDGE = "tnbr0"
NET = "10.77.0"
HOSTS = {
    "tn-db": 10, "tn-db2": 11, "tn-redis": 12, "tn-pgb": 13, "tn-app1": 21, "tn-app2": 22,
    "tn-lb": 30, "tn-edge1": 31, "tn-edge2": 32, "tn-client": 50,
}  # fmt: skip
APP_HOSTS = ("tn-app1", "tn-app2")
EDGES = ("tn-edge1", "tn-edge2")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PACKAGES = {  # a file each Debian package provides -> the package
    str(PG_BIN / "postgres"): "postgresql-15",
    "/usr/sbin/haproxy": "haproxy",
    "/usr/sbin/pgbouncer": "pgbouncer",
    "/usr/bin/pushpin": "pushpin",
    "/usr/bin/zurl": "zurl",
    "/usr/bin/redis-server": "redis-server",
    "/usr/bin/curl": "curl",
    "/usr/bin/setpriv": "util-linux",
}
GRIP_KEY_FILE = "grip.key"


def addr(host: str) -> str:
    return f"{NET}.{HOSTS[host]}"


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def run(*command: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=check, text=True, capture_output=True, **kwargs)


def in_ns(host: str, *command: str) -> list[str]:
    return ["ip", "netns", "exec", host, *command]


def as_postgres(*command: str) -> list[str]:
    # setpriv execs (no parent left behind), so the pid we keep is the server's own.
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *command]


# -- Packages and network -----------------------------------------------------------------------


def ensure_packages() -> None:
    missing = sorted({pkg for path, pkg in PACKAGES.items() if not Path(path).exists()})
    if not missing:
        return
    step(f"installing {' '.join(missing)} (apt-get)")
    # needrestart must not restart the machine's own services (PostgreSQL, Redis...).
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "NEEDRESTART_SUSPEND": "1"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)
    # Debian starts the services it installs; the cluster runs its own, so stop those.
    for service in ("haproxy", "pgbouncer", "pushpin"):
        if service in missing:
            subprocess.run(["systemctl", "disable", "--now", service], capture_output=True)


def make_network() -> None:
    step(f"network: {len(HOSTS)} hosts on {NET}.0/24 (bridge {BRIDGE} in namespace {SWITCH})")
    run("ip", "netns", "add", SWITCH)
    run(*in_ns(SWITCH, "ip", "link", "add", BRIDGE, "type", "bridge"))
    run(*in_ns(SWITCH, "ip", "link", "set", BRIDGE, "up"))
    for host in HOSTS:
        run("ip", "netns", "add", host)
        inside, outside = f"v-{host[3:]}", f"s-{host[3:]}"
        run("ip", "link", "add", inside, "netns", host, "type", "veth", "peer", "name", outside,
            "netns", SWITCH)  # fmt: skip
        run(*in_ns(SWITCH, "ip", "link", "set", outside, "master", BRIDGE))
        run(*in_ns(SWITCH, "ip", "link", "set", outside, "up"))
        run(*in_ns(host, "ip", "addr", "add", f"{addr(host)}/24", "dev", inside))
        run(*in_ns(host, "ip", "link", "set", inside, "up"))
        run(*in_ns(host, "ip", "link", "set", "lo", "up"))


def cut(host: str, down: bool) -> None:
    """Take a host off the network (its link down) or put it back: a partition."""
    run(*in_ns(host, "ip", "link", "set", f"v-{host[3:]}", "down" if down else "up"))


# -- Processes ----------------------------------------------------------------------------------


def start(name: str, host: str, command: list[str], env: dict | None = None) -> int:
    """Start `command` in `host`'s namespace, in a session of its own; its pid is kept."""
    log = open(STATE / "logs" / f"{name}.log", "ab")  # noqa: SIM115
    process = subprocess.Popen(
        in_ns(host, *command), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=env or os.environ.copy(), cwd=ROOT, start_new_session=True,
    )  # fmt: skip
    (STATE / "pids" / f"{name}.pid").write_text(str(process.pid))
    return process.pid


def pid_of(name: str) -> int | None:
    path = STATE / "pids" / f"{name}.pid"
    return int(path.read_text()) if path.exists() else None


def alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(name: str, sig: int = signal.SIGTERM, wait: float = 15) -> None:
    """Stop what `start` started under `name`: its process group (its workers too)."""
    pid = pid_of(name)
    if not alive(pid):
        return
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + wait
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
        with_reaped(pid)
    if alive(pid):
        os.killpg(pid, signal.SIGKILL)


def with_reaped(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):  # not ours: init reaps it
        os.waitpid(pid, os.WNOHANG)


def probe(url: str, timeout: float = 2) -> bool:
    """An HTTP GET from inside tn-client (never from the root namespace)."""
    answer = subprocess.run(
        in_ns("tn-client", "curl", "-sf", "-o", "/dev/null", "--max-time", str(timeout), url),
        capture_output=True,
    )
    return answer.returncode == 0


def wait_until(what: str, check, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"cluster: {what} not up in {timeout:.0f} s; see {STATE}/logs")
        time.sleep(0.3)


# -- Services -----------------------------------------------------------------------------------


def postgres_primary() -> None:
    step("PostgreSQL primary on tn-db")
    data = STATE / "db" / "data"
    data.parent.mkdir(parents=True)
    shutil.chown(data.parent, "postgres", "postgres")
    run(*as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"))
    with open(data / "pg_hba.conf", "a") as hba:
        hba.write(f"host all all {NET}.0/24 trust\nhost replication all {NET}.0/24 trust\n")
    start("postgres-primary", "tn-db", as_postgres(
        str(PG_BIN / "postgres"), "-D", str(data), "-c", f"listen_addresses={addr('tn-db')}",
        "-c", f"unix_socket_directories={data.parent}", "-c", "max_connections=200",
        "-c", "wal_level=replica", "-c", "hot_standby_feedback=on",
    ))  # fmt: skip
    wait_until("the primary", lambda: pg_ready("tn-db"))
    run(*in_ns("tn-db", *as_postgres(str(PG_BIN / "psql"), "-h", addr("tn-db"), "-U", "postgres",
                                     "-c", "CREATE DATABASE tradenet")))  # fmt: skip


def postgres_replica() -> None:
    step("streaming replica on tn-db2")
    data = STATE / "db2" / "data"
    data.parent.mkdir(parents=True)
    shutil.chown(data.parent, "postgres", "postgres")
    run(*in_ns("tn-db2", *as_postgres(
        str(PG_BIN / "pg_basebackup"), "-h", addr("tn-db"), "-U", "postgres", "-D", str(data),
        "--write-recovery-conf", "--wal-method=stream", "--checkpoint=fast",
    )))  # fmt: skip
    start("postgres-replica", "tn-db2", as_postgres(
        str(PG_BIN / "postgres"), "-D", str(data), "-c", f"listen_addresses={addr('tn-db2')}",
        "-c", f"unix_socket_directories={data.parent}", "-c", "max_connections=200",
        "-c", "hot_standby_feedback=on",
    ))  # fmt: skip
    wait_until("the replica", lambda: pg_ready("tn-db2"))


def pg_ready(host: str, port: int = 5432) -> bool:
    ready = subprocess.run(
        in_ns(host, str(PG_BIN / "pg_isready"), "-h", addr(host), "-p", str(port), "-q"),
        capture_output=True,
    )
    return ready.returncode == 0


def redis() -> None:
    step("Redis on tn-redis")
    command = ["redis-server", "--bind", addr("tn-redis"), "--port", "6379", "--save", "",
               "--appendonly", "no", "--protected-mode", "no"]  # fmt: skip
    start("redis", "tn-redis", command)


def pgbouncer() -> None:
    step("PgBouncer (transaction mode) on tn-pgb")
    work = STATE / "pgb"
    work.mkdir()
    (work / "users.txt").write_text('"postgres" ""\n')
    (work / "pgbouncer.ini").write_text(f"""[databases]
tradenet = host={addr("tn-db")} port=5432 dbname=tradenet user=postgres
[pgbouncer]
listen_addr = {addr("tn-pgb")}
listen_port = 6432
unix_socket_dir =
auth_type = trust
auth_file = {work}/users.txt
pool_mode = transaction
default_pool_size = 20
max_client_conn = 2000
ignore_startup_parameters = extra_float_digits,options
""")
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
    # Its origin is the load balancer: any app host answers holds and next links.
    (work / "routes").write_text(f"* {addr('tn-lb')}:80\n")
    replacements = {
        "rundir=": f"rundir={run_dir}",
        "logdir=": f"logdir={work / 'log'}",
        "routesfile=": f"routesfile={work / 'routes'}",
        "sig_key=": f"sig_key={key}",
        "updates_check=": "updates_check=off",
        "push_in_http_addr=": f"push_in_http_addr={addr(host)}",
        # Debian's file limits deliveries to 2,500 a second, queueing up to 25,000 and dropping
        # the rest: 10,000 streams take more than that from a few trades a second (every
        # delivery counts). Unlimited here; what Pushpin cannot deliver at once it queues per
        # stream, and a stream that loses some recovers them from the log (sequence.py).
        "message_rate=": "message_rate=-1",
        "message_hwm=": "message_hwm=-1",
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
    grip = ",".join(f"http://{addr(edge)}:5561" for edge in EDGES)
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "DJANGO"))},
        "DATABASE_URL": f"postgres://postgres@{addr('tn-pgb')}:6432/tradenet",
        "DATABASE_DIRECT_URL": f"postgres://postgres@{addr('tn-db')}:5432/tradenet",
        "DATABASE_REPLICA_URL": f"postgres://postgres@{addr('tn-db2')}:5432/tradenet",
        "REDIS_URL": f"redis://{addr('tn-redis')}:6379/0",
        "GRIP_URL": grip,
        "GRIP_KEY": key,
        "DJANGO_SECRET_KEY": secret,
        "DJANGO_ALLOWED_HOSTS": "*",
        "DJANGO_SECURE_SSL_REDIRECT": "0",  # plain HTTP on a private network, no TLS in front
        "DJANGO_SECURE_COOKIES": "0",
        "DJANGO_HSTS_SECONDS": "0",
        "HOST": addr(host),
        "PORT": "8000",
        "WEB_CONCURRENCY": os.environ.get("TRADENET_CLUSTER_WORKERS", "2"),
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

    # Requests: at most a host's view threads (2 workers x 8) each, the rest queued here, where
    # waiting costs nothing, so an app host under a burst still answers its health check at
    # once (HAProxy marked both hosts down when they took 200 clients at a time and answered
    # 503 to everyone). Streams are long and hold no thread: a backend of their own, unqueued.
    # The check has 3 s and 3 tries (a loaded host is slow, not gone); a host that is gone
    # refuses connections, and those requests go to the other host at once (redispatch).
    def servers(extra: str) -> str:
        return "\n".join(
            f"    server {host} {addr(host)}:8000 check inter 1s fall 3 rise 2{extra}"
            for host in APP_HOSTS
        )

    (work / "haproxy.cfg").write_text(f"""global
    maxconn 9000
defaults
    mode http
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout queue 60s
    timeout check 3s
    timeout http-request 10s
    option http-server-close
    option redispatch
    retry-on conn-failure empty-response
    retries 2
frontend web
    bind {addr("tn-lb")}:80
    acl stream path_beg /api/updates/
    use_backend streams if stream
    default_backend apps
backend apps
    balance leastconn
    option httpchk GET /readyz
    http-check expect status 200
{servers(" maxconn 16")}
backend streams
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
{servers("")}
""")
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
        postgres_primary()
        postgres_replica()
        redis()
        pgbouncer()
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
        "PRIMARY": f"postgres://postgres@{addr('tn-db')}:5432/tradenet",
        "REPLICA": f"postgres://postgres@{addr('tn-db2')}:5432/tradenet",
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
                 *(f"zurl-{e}" for e in EDGES), "pgbouncer", "redis", "postgres-replica",
                 "postgres-primary"]  # fmt: skip
        names = order + sorted(p.stem for p in pids.glob("*.pid") if p.stem not in order)
        for name in names:
            stop(name, signal.SIGINT if name.startswith("postgres") else signal.SIGTERM)
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


if __name__ == "__main__":
    commands = {"up": up, "down": down, "status": status}
    host_commands = {"start-host": start_app_host, "kill-host": kill_host}
    if len(sys.argv) == 3 and sys.argv[1] in host_commands and sys.argv[2] in APP_HOSTS:
        host_commands[sys.argv[1]](sys.argv[2])
    elif len(sys.argv) == 2 and sys.argv[1] in commands:
        commands[sys.argv[1]]()
    else:
        raise SystemExit(
            "usage: deploy/cluster/cluster.py up|down|status, or start-host|kill-host tn-app1|2"
        )
