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
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
APPLICATION_NAME = "tradenet-test-server"


class ServerURL(str):
    """A server's base URL that also knows the server's process id and the application_name
    its database connections carry (to find them in pg_stat_activity)."""

    pid: int
    application_name: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    """The URL of the database the tests run on (the test database, once set up)."""
    db = connection.settings_dict
    host = quote(db["HOST"] or "127.0.0.1", safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    password = f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else ""
    return f"postgres://{quote(db['USER'])}{password}@{host}{port}/{quote(db['NAME'])}"


def server_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "DJANGO_SECRET_KEY": "test-server-" + "k" * 50,
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_COOKIES": "0",
        "DJANGO_LOG_LEVEL": os.environ.get("TRADENET_TEST_SERVER_LOG_LEVEL", "WARNING"),
        "PYTHONUNBUFFERED": "1",
        # Test mode: the fast password hasher the test users were made with, static files
        # served from the apps.
        "TRADENET_TESTING": "1",
    }
    env.update(extra)
    return env


@contextmanager
def uvicorn_server(
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    timeout: float = 30,
    ready_path: str = "/api/schema/",
):
    """Start `uvicorn tradenet.asgi:application` and yield its base URL; stop it on exit."""
    port = free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix=f"uvicorn-{port}-", suffix=".log", delete=False)  # noqa: SIM115
    cmd = [
        sys.executable, "-m", "uvicorn", "tradenet.asgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--no-access-log", "--timeout-graceful-shutdown", "5",
    ]  # fmt: skip
    application_name = f"{APPLICATION_NAME}-{port}"
    env = {**(env or server_env()), "PGAPPNAME": application_name}
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log)
    base_url = ServerURL(f"http://127.0.0.1:{port}")
    base_url.pid = process.pid
    base_url.application_name = application_name
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
