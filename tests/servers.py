"""Real server processes for tests: uvicorn serving the project against the test database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
APPLICATION_NAME = "tradenet-test-server"


class ServerURL(str):
    """A server's base URL that also knows the server's process id and the application_name
    its database connections carry (to find them in pg_stat_activity)."""

    pid: int
    application_name: str
    log_path: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url_of_tests() -> str:
    """The URL of the database the tests run on (the test database, once set up)."""
    db = connection.settings_dict
    host = quote(db["HOST"] or "127.0.0.1", safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    password = f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else ""
    return f"postgres://{quote(db['USER'])}{password}@{host}{port}/{quote(db['NAME'])}"


def server_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url_of_tests(),
        # The test process's own key: what it signs or seals, the servers can read.
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_COOKIES": "0",
        "DJANGO_LOG_LEVEL": os.environ.get("TRADENET_TEST_SERVER_LOG_LEVEL", "WARNING"),
        "PYTHONUNBUFFERED": "1",
        # The test settings: the fast password hasher the test users were made with, static
        # files served from the apps.
        "DJANGO_SETTINGS_MODULE": "tradenet.settings_test",
        # The suite empties the database between tests and makes the same station codes again
        # under new ids, at once, which no deployment does: a server process would answer
        # from its directory with the ids of the test before (inventory.directory keeps them
        # a few seconds). Read afresh on every request here.
        "TRADENET_DIRECTORY_SECONDS": "0",
    }
    env.update(extra)
    return env


def superuser_token(
    env: dict, username: str, password: str | None = None, namespace: str | None = None
) -> str:
    """A new superuser `username` in the database of `env`, made by manage.py (inside network
    namespace `namespace` if given); the key of a token of theirs."""
    command = [sys.executable, "manage.py", "shell", "-c",
               "from django.contrib.auth import get_user_model\n"
               "from knox.models import AuthToken\n"
               f"user = get_user_model().objects.create_superuser({username!r}, "
               f"password={password!r})\n"
               "print(AuthToken.objects.create(user=user)[1])\n"]  # fmt: skip
    if namespace:
        command = ["ip", "netns", "exec", namespace, *command]
    made = subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return made.stdout.strip().splitlines()[-1]


def start_script_settings(port: int, metrics_dir) -> dict[str, str]:
    """What deploy/start.sh takes, beyond the app's settings, to serve plain HTTP on loopback
    here (no TLS in front of it) with two workers."""
    return {
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_SECURE_COOKIES": "0",
        "DJANGO_HSTS_SECONDS": "0",
        "WEB_CONCURRENCY": "2",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PYTHON": sys.executable,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }


@contextmanager
def uvicorn_server(
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    timeout: float = 30,
    ready_path: str = "/api/schema/",
):
    """Start uvicorn as deploy/serve.sh does (`python -m tradenet.serve`); yield its base URL."""
    port = free_port()
    # TRADENET_KEEP_SERVER_LOGS=1 keeps the servers' logs in the temp folder, for debugging.
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115
        "w+",
        prefix=f"uvicorn-{port}-",
        suffix=".log",
        delete=not os.environ.get("TRADENET_KEEP_SERVER_LOGS"),
    )
    cmd = [
        sys.executable, "-m", "tradenet.serve", "tradenet.asgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--no-access-log", "--timeout-graceful-shutdown", "5",
        # The protocol deploy/serve.sh runs, with its header and body-read limits.
        "--http", "tradenet.serving:GuardedHttpToolsProtocol",
    ]  # fmt: skip
    application_name = f"{APPLICATION_NAME}-{port}"
    env = {**(env or server_env()), "PGAPPNAME": application_name}
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log)
    base_url = ServerURL(f"http://127.0.0.1:{port}")
    base_url.pid = process.pid
    base_url.application_name = application_name
    base_url.log_path = log.name
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"server exited early:\n{log.read()}")
            try:
                if httpx.get(f"{base_url}{ready_path}", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"server did not start in {timeout}s:\n{log.read()}")
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()
        _wait_for_backends_to_exit(application_name)


def server_connections(application_name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            [application_name],
        )
        return cursor.fetchone()[0]


def _wait_for_backends_to_exit(application_name: str, timeout: float = 10) -> None:
    """PostgreSQL ends a dead client's backend a moment later; dropping the test database
    before then fails with 'being accessed by other users'."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server_connections(application_name):
        time.sleep(0.1)


PUSHPIN_KEY = "tradenet-test-grip-key"


def pushpin_offset() -> int:
    """An offset for all of Pushpin's ports (7999 for clients, 5560-5563 for publishing...)
    under which they are free."""
    for _ in range(50):
        offset = free_port() % 20000 + 1000
        try:
            for base in (7999, 5560, 5561, 5562, 5563):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return offset
    raise RuntimeError("no free port range for Pushpin")


def pushpin_publish_url(offset: int) -> str:
    return f"http://127.0.0.1:{5561 + offset}"


@contextmanager
def pushpin_server(app_port: int, workdir: Path, offset: int):
    """Debian's Pushpin in front of the app on `app_port`; yields its client URL."""
    (workdir / "run").mkdir()
    (workdir / "log").mkdir()
    (workdir / "routes").write_text(f"* 127.0.0.1:{app_port}\n")
    config = Path("/etc/pushpin/pushpin.conf").read_text()
    replacements = {
        "rundir=": f"rundir={workdir / 'run'}",
        "port_offset=": f"port_offset={offset}",
        "http_port=": f"http_port={7999 + offset}",  # not covered by the offset
        "logdir=": f"logdir={workdir / 'log'}",
        "routesfile=": f"routesfile={workdir / 'routes'}",
        "sig_key=": f"sig_key={PUSHPIN_KEY}",
        "updates_check=": "updates_check=off",
    }
    run = workdir / "run"
    lines = []
    for line in config.splitlines():
        for prefix, value in replacements.items():
            if line.startswith(prefix):
                line = value
        lines.append(line)
        if line.strip() == "[proxy]":
            # Pushpin reaches the app through zurl; ours, with its sockets in our folder.
            lines += [
                f"zurl_out_specs=ipc://{run}/zurl-in",
                f"zurl_out_stream_specs=ipc://{run}/zurl-in-stream",
                f"zurl_in_specs=ipc://{run}/zurl-out",
            ]
    (workdir / "pushpin.conf").write_text("\n".join(lines) + "\n")
    # zurl refuses loopback destinations by default; the app under test is on loopback.
    (workdir / "zurl.conf").write_text(
        "[General]\n"
        f"in_spec=ipc://{run}/zurl-in\nin_stream_spec=ipc://{run}/zurl-in-stream\n"
        f"out_spec=ipc://{run}/zurl-out\nin_req_spec=ipc://{run}/zurl-req\n"
        "defpolicy=allow\nallow=127.0.0.1\ndeny=\nmax_open_requests=2000\n"
        "buffer_size=200000\ntimeout=600\n"
    )
    log = open(workdir / "pushpin.out", "w+")  # noqa: SIM115
    zurl = subprocess.Popen(["zurl", f"--config={workdir / 'zurl.conf'}"], stdout=log, stderr=log)
    process = subprocess.Popen(
        ["pushpin", f"--config={workdir / 'pushpin.conf'}"], stdout=log, stderr=log
    )
    client_url = f"http://127.0.0.1:{7999 + offset}"
    publish_url = pushpin_publish_url(offset)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"pushpin exited:\n{log.read()}")
            try:
                httpx.get(f"{publish_url}/", timeout=1)
                httpx.get(f"{client_url}/healthz", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield client_url
    finally:
        for child in (process, zurl):
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
        log.close()
