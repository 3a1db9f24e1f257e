"""The cluster's hosts and processes: network namespaces on a private bridge, and the processes
started in them (each in a session of its own, its pid kept in STATE/pids). Used by
deploy/cluster/cluster.py and deploy/cluster/database.py."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from topology import NAMESPACE_HOSTS, Layout

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("TRADENET_CLUSTER_DIR", "/var/tmp/tradenet-cluster"))
SWITCH = "tn-switch"
BRIDGE = "tnbr0"
NET = "10.77.0"
HOSTS = {
    "tn-db": 10, "tn-db2": 11, "tn-redis": 12, "tn-pgb": 13, "tn-mq": 14, "tn-app1": 21,
    "tn-app2": 22, "tn-lb": 30, "tn-edge1": 31, "tn-edge2": 32, "tn-etcd1": 41, "tn-etcd2": 42,
    "tn-etcd3": 43, "tn-client": 50,
}  # fmt: skip
APP_HOSTS = NAMESPACE_HOSTS["app"]
EDGES = NAMESPACE_HOSTS["edge"]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PACKAGES = {  # a file each Debian package provides -> the package
    str(PG_BIN / "postgres"): "postgresql-15",
    "/usr/sbin/haproxy": "haproxy",
    "/usr/sbin/pgbouncer": "pgbouncer",
    "/usr/bin/pushpin": "pushpin",
    "/usr/bin/zurl": "zurl",
    "/usr/bin/redis-server": "redis-server",
    "/usr/bin/curl": "curl",
    "/usr/bin/patroni": "patroni",
    "/usr/bin/etcd": "etcd-server",
    "/usr/lib/rabbitmq/bin/rabbitmq-server": "rabbitmq-server",
    "/usr/bin/setpriv": "util-linux",
}


def addr(host: str) -> str:
    return f"{NET}.{HOSTS[host]}"


# The topology (deploy/cluster/topology.py) on these hosts: each reached, and listening, at its
# own address; PostgreSQL trusts the cluster's network.
LAYOUT = Layout(NAMESPACE_HOSTS, {host: addr(host) for host in HOSTS}, network=f"{NET}.0/24")


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
    for service in ("haproxy", "pgbouncer", "pushpin", "etcd", "patroni", "rabbitmq-server"):
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


def pg_ready(host: str, port: int = 5432) -> bool:
    ready = subprocess.run(
        in_ns(host, str(PG_BIN / "pg_isready"), "-h", addr(host), "-p", str(port), "-q"),
        capture_output=True,
    )
    return ready.returncode == 0


def kill_every_process(host: str) -> list[int]:
    """kill -9 of every process in `host`'s namespace (all started by the cluster): a crash of
    the whole host, children that left their parent's session included."""
    pids = [int(pid) for pid in run("ip", "netns", "pids", host).stdout.split()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in pids:
        with_reaped(pid)
    return pids
