"""What the benchmarks share: a scratch database on the project's PostgreSQL, the production
environment for a server, and small helpers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def base_database() -> dict:
    """Connection parameters of the project's PostgreSQL server (without a database name)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradenet.settings")
    if os.environ.get("DATABASE_URL"):
        import dj_database_url

        return dj_database_url.parse(os.environ["DATABASE_URL"])
    from tradenet.embedded_postgres import database_settings

    return database_settings()


def url_for(db: dict, name: str) -> str:
    host = quote(db["HOST"] or "127.0.0.1", safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    return f"postgres://{quote(db['USER'])}{password}@{host}{port}/{name}"


def admin_connection(db: dict, dbname: str = "postgres"):
    import psycopg

    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db.get("PORT") or None,
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        dbname=dbname,
        autocommit=True,
    )


def recreate_database(db: dict, name: str) -> None:
    with admin_connection(db) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(db: dict, name: str) -> None:
    with admin_connection(db) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def production_env(db: dict, name: str, **extra: str) -> dict[str, str]:
    """The environment of a production server on the scratch database (plain HTTP on
    loopback: no TLS in front of it here). Every benchmark client signs in as the same
    dispatch staff user, so its throttle and stream cap are raised."""
    env = {
        **os.environ,
        "DATABASE_URL": url_for(db, name),
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "bench-only-" + "s" * 50,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_HSTS_SECONDS": "0",
        "TRADENET_THROTTLE_USER": "10000000/min",
        "TRADENET_SSE_MAX_STREAMS_PER_USER": "100000",
    }
    env.pop("REDIS_URL", None)
    env.update(extra)
    return env


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def wait_for_http(url: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def manage(env: dict, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def shell(env: dict, code: str) -> dict:
    out = manage(env, "shell", "-c", "import json\n" + code)
    return json.loads(out.strip().splitlines()[-1])


def start_server(env: dict, port: int, workers: int | None) -> subprocess.Popen:
    env = {**env, "HOST": "127.0.0.1", "PORT": str(port), "PYTHON": sys.executable}
    env["PGAPPNAME"] = "tradenet-bench-server"
    if workers:
        env["WEB_CONCURRENCY"] = str(workers)
    server = subprocess.Popen(
        ["bash", "deploy/start.sh"], cwd=ROOT, env=env, start_new_session=True
    )
    wait_for_http(f"http://127.0.0.1:{port}/readyz", timeout=120)
    return server


def stop_server(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)


def process_tree(root: int) -> list[int]:
    """`root` and every process below it (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def cpu_seconds(roots: list[int]) -> float:
    """CPU time used so far by the process trees under `roots`: each process's own user and
    system time plus that of its children already reaped (so a worker that came and went
    still counts, and nothing counts twice)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for root in roots:
        for pid in process_tree(root):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue  # it ended between the listing and now
            fields = stat[stat.rindex(")") + 2 :].split()
            total += sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    return total / ticks


def stream_completeness(rows, reports: list[dict]) -> dict:
    """What the stream clients missed: `rows` are (station code, transaction id) of every trade
    committed while they listened, `reports` what each client process printed; every client of
    a station must have every trade of that station."""
    expected: dict[str, set[str]] = {}
    for code, transaction_id in rows:
        expected.setdefault(code, set()).add(transaction_id)
    want = missing = 0
    for got in reports:
        for code, seen_by_clients in got["per_station"].items():
            for seen in seen_by_clients:
                want += len(expected.get(code, ()))
                missing += len(expected.get(code, set()) - set(seen))
    return {"expected": want, "missing": missing}


def postmaster_pid(db: dict, dbname: str) -> int | None:
    """The pid of the PostgreSQL server behind `db`, when it runs on this machine (its data
    directory's postmaster.pid is readable here); None otherwise."""
    try:
        with admin_connection(db, dbname) as conn:
            directory = conn.execute("SHOW data_directory").fetchone()[0]
        return int(Path(directory, "postmaster.pid").read_text().split()[0])
    except Exception:
        return None


class CpuWatch:
    """CPU seconds used by named process trees over a `with` block (`used`, by name)."""

    def __init__(self, roots: dict[str, list[int]]):
        self.roots = roots

    def __enter__(self):
        self.before = {name: cpu_seconds(pids) for name, pids in self.roots.items()}
        return self

    def __exit__(self, *exc):
        self.used = {
            name: cpu_seconds(pids) - self.before[name] for name, pids in self.roots.items()
        }


def cpu_ms_per(run: dict, tier: str, count: int) -> float:
    """A tier's CPU milliseconds per operation over a run (NaN where it was not measured)."""
    if tier not in run.get("cpu", {}) or not count:
        return float("nan")
    return run["cpu"][tier] * 1000 / count
