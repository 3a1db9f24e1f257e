"""Production deployment: settings from the environment, probes, the stack (the compose file:
tests/deploy/test_compose.py)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.helpers import answers, wait_for
from tests.servers import (
    ROOT,
    database_url_of_tests,
    free_port,
    start_script_settings,
    uvicorn_server,
)
from tests.sse import SSEClient

SECRET = "deploy-test-" + "q" * 50
pytestmark = pytest.mark.slow  # servers, make run, manage.py as processes


def production_env(**extra) -> dict:
    """The machine's environment with nothing of the project's in it, then `extra`."""
    project = ("DJANGO_", "TRADENET_", "DATABASE_", "REDIS_URL", "PROMETHEUS_MULTIPROC_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith(project)}
    # Not the checkout's .env.development (which `make run` may have written there).
    env["TRADENET_ENV_FILE"] = os.devnull + ".absent"
    env.update(extra)
    return env


def manage(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_refuses_to_start_without_a_secret_key_when_debug_is_off():
    env = production_env(DATABASE_URL="postgres://nobody@127.0.0.1:1/none")
    done = manage("check", env=env)
    assert done.returncode == 1
    assert "refuses to start: DJANGO_SECRET_KEY is not set" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_deploy_reports_nothing_with_secret_key_and_hosts_set(tmp_path):
    env = production_env(
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none",
        DJANGO_SECRET_KEY=SECRET,
        DJANGO_ALLOWED_HOSTS="tradenet.example.com",
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
    )
    assert manage("collectstatic", "--noinput", "--verbosity", "0", env=env).returncode == 0
    done = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_debug_is_off_unless_set():
    env = production_env(
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none", DJANGO_SECRET_KEY=SECRET
    )
    done = manage("shell", "-c", "from django.conf import settings; print(settings.DEBUG)", env=env)
    assert done.stdout.strip().splitlines()[-1] == "False", done.stderr


@pytest.mark.django_db(transaction=True)
def test_readyz_is_503_when_the_database_is_down_while_healthz_stays_200():
    env = production_env(
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none",
        REDIS_URL="redis://127.0.0.1:1/0",
        DJANGO_SECRET_KEY=SECRET,
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SETTINGS_MODULE="tradenet.settings_test",
    )
    with uvicorn_server(env=env, ready_path="/healthz") as base:
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        ready = httpx.get(f"{base}/readyz", timeout=20)
        assert ready.status_code == 503
        checks = ready.json()["checks"]
        assert checks["postgresql"].startswith("unavailable")
        assert checks["redis"].startswith("unavailable")


def machine_services() -> tuple[str, str] | None:
    """The machine's own PostgreSQL and Redis (not the embedded server), if they answer."""
    import psycopg
    import redis

    try:
        psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=2).close()
        redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=2).ping()
    except (psycopg.Error, redis.RedisError):
        return None
    return "postgresql://postgres@127.0.0.1:5432", "redis://127.0.0.1:6379/0"


def test_the_stack_runs_without_docker_a_trade_reaches_an_attached_stream(tmp_path):
    services = machine_services()
    if services is None:
        pytest.skip("needs the machine's PostgreSQL on 127.0.0.1:5432 and Redis on :6379")
    import psycopg

    pg, redis_url = services
    database = f"tradenet_stack_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{pg}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    port = free_port()
    env = production_env(
        DATABASE_URL=f"{pg}/{database}",
        REDIS_URL=redis_url,
        DJANGO_SECRET_KEY=SECRET,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        **start_script_settings(port, tmp_path / "metrics"),
    )
    log = open(tmp_path / "server.log", "w+")  # noqa: SIM115
    server = subprocess.Popen(
        ["bash", "deploy/start.sh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()[-3000:]
            time.sleep(0.3)

        assert manage("seed_stations", "--no-progress", env=env).returncode == 0
        made = manage(
            "shell", "-c",
            "from django.contrib.auth import get_user_model; from knox.models import AuthToken; "
            "u = get_user_model().objects.create_superuser('ops', password='x-ops-x-123'); "
            "print(AuthToken.objects.create(user=u)[1])",
            env=env,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        headers = {"Authorization": f"Token {made.stdout.strip().splitlines()[-1]}"}

        with SSEClient(f"{base}/api/updates/real-time/", headers=headers) as stream:
            response = httpx.post(
                f"{base}/api/trades/",
                headers={**headers, "X-Request-ID": "stack-test-1"},
                json={"seller": "ceres-prime", "buyer": "sol-mars",
                      "items": [{"commodity": "water", "quantity": 3, "unit_price": "1.50"}]},
                timeout=30,
            )  # fmt: skip
            assert response.status_code == 201, response.text
            assert response.headers["X-Request-ID"] == "stack-test-1"
            event = stream.next_of("trade.initiated", timeout=20).json
            assert event["transaction_id"] == response.json()["transaction_id"]

            metrics = httpx.get(f"{base}/metrics", timeout=10).text
            assert 'tradenet_shipments{status="pending"} 1.0' in metrics
            assert 'tradenet_trades{status="initiated"} 1.0' in metrics
            assert "tradenet_sse_clients_connected 1.0" in metrics
            assert "tradenet_trades_created_total 1.0" in metrics
            assert httpx.get(f"{base}/static/admin/css/base.css", timeout=10).status_code == 200

            started = time.monotonic()
            server.send_signal(signal.SIGTERM)
            server.wait(30)
            assert time.monotonic() - started < 8  # streams end at once; no grace period wasted
            assert server.returncode == 0
        output = (tmp_path / "server.log").read_text()
        requests = [line for line in output.splitlines() if '"logger": "tradenet.access"' in line]
        assert any(
            '"request_id": "stack-test-1"' in line and '"status": 201' in line for line in requests
        )
    finally:
        if server.poll() is None:
            server.kill()
        log.close()
        with psycopg.connect(f"{pg}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")
def test_make_run_stopped_with_sigterm_leaves_no_server_and_no_postgresql(tmp_path):
    """`make run` on an embedded PostgreSQL of its own; SIGTERM to make stops the server's
    processes and that PostgreSQL, and frees the port."""
    port = free_port()
    # Outside pytest's temporary root, which another pytest session on the machine sets back to
    # 0700: the embedded server's user must reach its files (tests/postgres.py, own_postgres).
    pgdata = Path(tempfile.mkdtemp(prefix="tradenet-make-run-")) / "pg"
    env = production_env(
        TRADENET_PGDATA=str(pgdata),
        TRADENET_ENV_FILE=str(tmp_path / ".env.development"),
        PYTHON=sys.executable,
        DJANGO_SUPERUSER_PASSWORD="make-run-" + "p" * 20,
        WEB_CONCURRENCY="2",
    )
    log = open(tmp_path / "make-run.log", "w+")  # noqa: SIM115
    make = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}", f"VENV={Path(sys.prefix)}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    left_behind = []
    try:
        assert wait_for(lambda: answers(f"http://127.0.0.1:{port}/healthz"), timeout=180), (
            log.seek(0) or log.read()
        )
        postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
        left_behind.append(postmaster)
        serving = server_processes(port)
        assert serving, "no server process found"
        # The banner comes once the port answers, never before it.
        assert wait_for(lambda: "TradeNet is serving on" in (log.seek(0) or log.read()), 30)
        base = f"http://127.0.0.1:{port}"

        # Every command the docs show works as written in a plain shell: nothing set but where the
        # embedded cluster and the development file live (this test's own, not the checkout's).
        plain = production_env(
            TRADENET_PGDATA=str(pgdata), TRADENET_ENV_FILE=env["TRADENET_ENV_FILE"]
        )
        done = manage("add_operator", "ana", "ceres-prime", "--password", "ana-" + "p" * 16,
                      env=plain)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Created operator ana" in done.stdout
        # ...and with DEBUG set off, the development file is not read: no key, no start.
        refused = manage("check", env={**plain, "DJANGO_DEBUG": "0"})
        assert refused.returncode == 1 and "DJANGO_SECRET_KEY is not set" in refused.stderr

        # /metrics adds up every worker (2 here): each scrape counts all 20 requests.
        for _ in range(20):
            httpx.get(f"{base}/api/trades/", timeout=10)
        counts = []
        for _ in range(6):
            text = httpx.get(f"{base}/metrics", timeout=10).text
            found = re.search(
                r'^tradenet_http_requests_total\{method="GET",status="401"\} (\S+)$', text, re.M
            )
            counts.append(float(found.group(1)) if found else 0.0)
        assert counts == [20.0] * 6, counts

        make.send_signal(signal.SIGTERM)  # to make alone, as `kill <pid of make>` does
        make.wait(30)
        assert wait_for(lambda: not any(alive(pid) for pid in [postmaster, *serving]), 60), (
            [pid for pid in [postmaster, *serving] if alive(pid)],
            log.seek(0) or log.read(),
        )
        assert not answers(f"http://127.0.0.1:{port}/healthz")
        assert not (pgdata / "postmaster.pid").exists()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(make.pid, signal.SIGKILL)
        for pid in left_behind:  # when the test fails: do not leave PostgreSQL running
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGQUIT)
        log.close()
        shutil.rmtree(pgdata.parent, ignore_errors=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead but not yet reaped by its parent.
    with contextlib.suppress(FileNotFoundError):
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    return False


def server_processes(port: int) -> list[int]:
    """The server's main process serving `port` (uvicorn's, run by `tradenet.serve`) and its
    workers."""
    masters, parents = [], {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                command = (entry / "cmdline").read_bytes().split(b"\0")
                line = b" ".join(command)
                serving = b"uvicorn" in line or b"tradenet.serve" in line
                if serving and str(port).encode() in command:
                    masters.append(int(entry.name))
                status = (entry / "status").read_text()
                parents[int(entry.name)] = int(status.split("PPid:")[1].split()[0])
    return masters + [pid for pid, parent in parents.items() if parent in masters]


@pytest.mark.django_db
def test_without_collectstatic_the_server_refuses_to_start_and_says_what_to_run(tmp_path):
    """Production settings serve static files from what collectstatic gathered; without it the
    API docs answered 500. Now the server stops at start with the remedy, `check --deploy`
    reports it, and after collectstatic the same command serves the docs."""
    static_root = tmp_path / "static"
    env = production_env(
        DATABASE_URL=database_url_of_tests(),
        DJANGO_SECRET_KEY=SECRET,
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_STATIC_ROOT=str(static_root),
    )
    with (
        pytest.raises(RuntimeError) as refused,
        uvicorn_server(env=env, workers=2, ready_path="/healthz", timeout=60),
    ):
        pass
    assert "server exited early" in str(refused.value)
    assert "collectstatic --noinput" in str(refused.value)

    check = manage("check", "--deploy", "--fail-level", "ERROR", env=env)
    assert check.returncode != 0 and "tradenet.E001" in check.stderr, check.stderr

    gathered = manage("collectstatic", "--noinput", "--verbosity", "0", env=env)
    assert gathered.returncode == 0, gathered.stderr
    with uvicorn_server(env=env, workers=2, ready_path="/healthz") as base:
        docs = httpx.get(f"{base}/api/docs/", timeout=20)
        assert docs.status_code == 200, docs.text[:500]
        assert manage("check", "--deploy", "--fail-level", "ERROR", env=env).returncode == 0


def test_a_server_of_one_process_does_not_take_itself_for_an_orphan():
    """WEB_CONCURRENCY=1: uvicorn serves in the process deploy/serve.sh exec'd, whose pid it
    recorded as the server's; the orphan guard must not end it (it did: `Shutting down` at
    once)."""
    code = (
        "import os, time; os.environ['TRADENET_SERVER_PID'] = str(os.getpid()); "
        "from tradenet.serving import exit_with_parent; exit_with_parent(); "
        "time.sleep(0.5); print('still serving')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "still serving" in done.stdout, (done.returncode, done.stderr)
