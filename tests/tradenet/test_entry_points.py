"""Every documented way to serve TradeNet (docs/deployment.md#entry-points) starts as Django's
deployment docs start it: the server's own command on the project's module, with only the
documented variables set (DJANGO_SETTINGS_MODULE unset), and answers its probes and an
authenticated API request. The production server keeps an idle connection longer than the
balancer in front of it, and a POST on a connection reused after an idle spell is answered."""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from knox.models import AuthToken

from tests.deploy.test_deployment import production_env
from tests.factories import CommodityFactory, StationFactory, UserFactory, give_stock
from tests.helpers import answers, wait_for
from tests.servers import ROOT, _wait_for_backends_to_exit, database_url_of_tests, free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SECRET = "entry-points-" + "k" * 50

ENTRY_POINTS = {
    "uvicorn": ["-m", "uvicorn", "tradenet.asgi:application", "--port", "{port}"],
    "gunicorn+uvicorn-worker": ["-m", "gunicorn", "-k", "uvicorn_worker.UvicornWorker",
                                "-b", "127.0.0.1:{port}", "tradenet.asgi:application"],
    "gunicorn-wsgi": ["-m", "gunicorn", "-b", "127.0.0.1:{port}", "tradenet.wsgi:application"],
    "daphne": ["-m", "daphne", "-p", "{port}", "tradenet.asgi:application"],
    "runserver": ["manage.py", "runserver", "127.0.0.1:{port}", "--noreload"],
}  # fmt: skip


def documented_env(port: int, static_root: Path, **extra: str) -> dict[str, str]:
    """The machine's environment without anything of the project's, and the settings
    docs/deployment.md lists for plain HTTP on loopback: no DJANGO_SETTINGS_MODULE."""
    documented = {
        "DATABASE_URL": database_url_of_tests(),
        "DJANGO_SECRET_KEY": SECRET,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_STATIC_ROOT": str(static_root),
        "PGAPPNAME": f"tradenet-entry-{port}",
    }
    return production_env(**{**documented, **extra})


@pytest.fixture(scope="module")
def static_root(tmp_path_factory):
    """Static files gathered as the docs say, before any server starts."""
    root = tmp_path_factory.mktemp("static")
    env = documented_env(0, root)
    done = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return root


class Server:
    def __init__(self, command: list[str], env: dict[str, str], port: int, log: Path):
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = log
        self.application_name = env["PGAPPNAME"]
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, f"server exited:\n{self.log()}"
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"no 200 from /healthz:\n{self.log()}"
            time.sleep(0.3)

    def stop(self) -> None:
        """SIGTERM to the server's own process group (only what this test started)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        _wait_for_backends_to_exit(self.application_name)


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_each_entry_point_serves_probes_and_the_api_with_only_the_documented_settings(
    name, static_root, tmp_path
):
    StationFactory(code="ceres-prime")
    _, token = AuthToken.objects.create(user=UserFactory(is_superuser=True))
    port = free_port()
    env = documented_env(port, static_root)
    assert "DJANGO_SETTINGS_MODULE" not in env
    command = [sys.executable, *(part.format(port=port) for part in ENTRY_POINTS[name])]
    server = Server(command, env, port, tmp_path / "server.log")
    try:
        server.wait_healthy()
        assert httpx.get(f"{server.base}/healthz", timeout=10).json() == {"status": "ok"}
        ready = httpx.get(f"{server.base}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["postgresql"] == "ok"

        headers = {"Authorization": f"Token {token}"}
        stations = httpx.get(f"{server.base}/api/stations/", headers=headers, timeout=30)
        assert stations.status_code == 200, stations.text
        assert [s["code"] for s in stations.json()["results"]] == ["ceres-prime"]
        # ...and the token is what let it in.
        assert httpx.get(f"{server.base}/api/stations/", timeout=30).status_code == 401
    finally:
        server.stop()


TRADE = {
    "seller": "ceres-prime",
    "buyer": "vesta-yards",
    "items": [{"commodity": "water", "quantity": 1, "unit_price": "2.00"}],
}


def dispatch_with_stock_to_trade() -> str:
    """Two stations, water for the seller, and a dispatch staff token (its key)."""
    give_stock(StationFactory(code="ceres-prime"), CommodityFactory(code="water"), 10)
    StationFactory(code="vesta-yards")
    return AuthToken.objects.create(user=UserFactory(is_superuser=True))[1]


def production_keep_alive() -> int:
    """The production server's keep-alive, as deploy/serve.sh sets it."""
    found = re.search(r"--timeout-keep-alive \"\$\{KEEP_ALIVE_TIMEOUT:-(\d+)\}\"",
                      (ROOT / "deploy" / "serve.sh").read_text())  # fmt: skip
    assert found, "deploy/serve.sh sets no --timeout-keep-alive"
    return int(found.group(1))


def test_the_server_keeps_an_idle_connection_longer_than_every_haproxy_we_ship():
    keep_alive = production_keep_alive()
    configs = [*(ROOT / "deploy").rglob("*.cfg"), *(ROOT / "deploy").rglob("*.py")]
    timeouts = [
        (path.name, int(seconds))
        for path in configs
        for seconds in re.findall(r"timeout http-keep-alive (\d+)s", path.read_text())
    ]
    assert {name for name, _ in timeouts} >= {"haproxy.cfg"}, timeouts
    assert all(seconds < keep_alive for _, seconds in timeouts), (keep_alive, timeouts)


def test_a_post_on_a_connection_reused_after_an_idle_spell_is_answered(static_root, tmp_path):
    """Past uvicorn's default keep-alive (5 s), where a POST sent on a connection the server was
    closing failed: the production server (deploy/serve.sh) still holds the connection."""
    token = dispatch_with_stock_to_trade()
    port = free_port()
    env = documented_env(port, static_root, HOST="127.0.0.1", PORT=str(port),
                         WEB_CONCURRENCY="1", PYTHON=sys.executable,
                         PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))  # fmt: skip
    server = Server(["bash", "deploy/serve.sh"], env, port, tmp_path / "server.log")
    body = json.dumps(TRADE)
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    try:
        server.wait_healthy()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        statuses, local_ports = [], set()
        for idle in (0, 6, 0, 6):
            time.sleep(idle)
            connection.request("POST", "/api/trades/", body=body, headers=headers)
            local_ports.add(connection.sock.getsockname()[1])
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
        connection.close()
        assert statuses == [201] * 4, (statuses, server.log())
        assert len(local_ports) == 1  # one connection, reused each time
    finally:
        server.stop()


def logged_types() -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT type FROM django_eventstream_event ORDER BY eid")
        return [row[0] for row in cursor.fetchall()]


def test_under_a_wsgi_server_manage_py_deliver_carries_committed_events_on(static_root, tmp_path):
    """A WSGI server has no lifespan to run the relay in: a trade's event waits in the outbox
    (kept) until `manage.py deliver` runs beside it, then reaches the log."""
    token = dispatch_with_stock_to_trade()
    port = free_port()
    env = documented_env(port, static_root)
    command = [sys.executable, *(p.format(port=port) for p in ENTRY_POINTS["gunicorn-wsgi"])]
    server = Server(command, env, port, tmp_path / "server.log")
    deliver = None
    try:
        server.wait_healthy()
        headers = {"Authorization": f"Token {token}"}
        placed = httpx.post(f"{server.base}/api/trades/", headers=headers, json=TRADE, timeout=30)
        assert placed.status_code == 201, placed.text
        time.sleep(2)
        assert "trade.initiated" not in logged_types()  # in the outbox: nothing relays it

        deliver_env = {**env, "PGAPPNAME": f"tradenet-deliver-{port}"}
        deliver = Server([sys.executable, "manage.py", "deliver"], deliver_env, port,
                         tmp_path / "deliver.log")  # fmt: skip
        assert wait_for(lambda: "trade.initiated" in logged_types(), 60), deliver.log()
        os.killpg(deliver.process.pid, signal.SIGTERM)
        assert deliver.process.wait(30) == 0, deliver.log()
        assert "Stopped." in deliver.log()
    finally:
        if deliver is not None:
            deliver.stop()
        server.stop()


def haproxy_topology():
    """deploy/cluster/topology.py (standard library only; deploy/cluster runs it as a script)."""
    spec = importlib.util.spec_from_file_location(
        "keep_alive_topology", ROOT / "deploy" / "cluster" / "topology.py"
    )
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not Path("/usr/sbin/haproxy").exists(), reason="HAProxy is not installed "
                    "(scripts/ensure-test-tools installs it)")  # fmt: skip
@pytest.mark.skipif(os.geteuid() != 0, reason="HAProxy binds port 80 as the cluster's does")
def test_through_the_clusters_haproxy_a_post_after_an_idle_spell_is_answered(static_root, tmp_path):
    """The cluster's load balancer, rendered as deploy/cluster renders it, on loopback
    addresses of this test's own, in front of deploy/serve.sh: POSTs on one client connection
    with idle spells past uvicorn's default keep-alive are all answered."""
    topology = haproxy_topology()
    net = f"127.{random.randrange(1, 250)}.{random.randrange(1, 250)}"
    app, lb = f"{net}.2", f"{net}.3"
    layout = topology.Layout(
        hosts={"app": ("app",), "lb": ("lb",)}, addresses={"app": app, "lb": lb}, network=net
    )
    (tmp_path / "503.http").write_text(topology.LB_503)
    (tmp_path / "haproxy.cfg").write_text(topology.lb_cfg(layout, str(tmp_path / "503.http")))
    token = dispatch_with_stock_to_trade()
    env = documented_env(topology.APP_PORT, static_root, HOST=app, PORT=str(topology.APP_PORT),
                         WEB_CONCURRENCY="1", PYTHON=sys.executable, DJANGO_ALLOWED_HOSTS=lb,
                         PGAPPNAME=f"tradenet-keep-alive-{net}",
                         PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))  # fmt: skip
    server = Server(["bash", "deploy/serve.sh"], env, topology.APP_PORT, tmp_path / "app.log")
    server.base = f"http://{app}:{topology.APP_PORT}"
    haproxy = ["/usr/sbin/haproxy", "-W", "-db", "-f", str(tmp_path / "haproxy.cfg")]
    balancer = Server(haproxy, {**env, "PGAPPNAME": "-"}, topology.LB_PORT, tmp_path / "lb.log")
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    try:
        server.wait_healthy()
        assert wait_for(lambda: answers(f"http://{lb}/readyz"), 30), balancer.log()
        connection = http.client.HTTPConnection(lb, topology.LB_PORT, timeout=30)
        statuses, local_ports = [], set()
        for idle in (0, 6, 0, 6):
            time.sleep(idle)
            connection.request("POST", "/api/trades/", body=json.dumps(TRADE), headers=headers)
            local_ports.add(connection.sock.getsockname()[1])
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
        connection.close()
        assert statuses == [201] * 4, (statuses, server.log(), balancer.log())
        assert len(local_ports) == 1  # one client connection to HAProxy, reused each time
    finally:
        balancer.process.send_signal(signal.SIGTERM)
        balancer.process.wait(10)
        server.stop()
