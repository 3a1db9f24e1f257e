"""What the cluster tests share: starting agents inside a namespace and reading their reports,
SQL on the current leader, the cluster's fault commands, and Patroni's view of the nodes.

This process, in the root namespace, never sends to a cluster address: SQL runs as `psql` in
tn-client and HTTP as `curl` there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CLUSTER = ROOT / "deploy" / "cluster" / "cluster.py"
STATE = Path("/var/tmp/tradenet-cluster")
AGENTS = "tests/deploy/cluster/agents.py"
MIGRATION_LOCK = 7_362_201
NODES = {"tn-db": "10.77.0.10", "tn-db2": "10.77.0.11"}
PATRONI_PORT = 8008
LEADER = "postgres://postgres@10.77.0.13:5000/tradenet"  # HAProxy: whichever node leads


def why_not() -> str | None:
    if os.geteuid() != 0:
        return "the cluster tests need root (network namespaces)"
    if not shutil.which("ip") or subprocess.run(["ip", "netns", "list"]).returncode != 0:
        return "the cluster tests need `ip netns` (iproute2)"
    if STATE.exists():
        return f"a cluster is up already ({STATE}): deploy/cluster/down first"
    return None


def agent(namespace: str, scenario: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["ip", "netns", "exec", namespace, str(ROOT / ".venv" / "bin" / "python"), AGENTS,
         scenario, *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def report(process: subprocess.Popen, timeout: float = 300) -> dict:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out)


def sql(query: str, node: str | None = None, patience: float = 60) -> list[list[str]]:
    """A query on the leader (through HAProxy's primary port), or on `node` itself, from
    tn-client. Tried again for `patience` seconds while the cluster fails over."""
    host, port = (NODES[node], "5432") if node else ("10.77.0.13", "5000")
    command = ["ip", "netns", "exec", "tn-client", "psql", "-h", host, "-p", port,
               "-U", "postgres", "-d", "tradenet", "-AtF", "\t", "-c", query]  # fmt: skip
    deadline = time.monotonic() + patience
    while True:
        answer = subprocess.run(command, capture_output=True, text=True,
                                env={**os.environ, "PGCONNECT_TIMEOUT": "3"})  # fmt: skip
        if answer.returncode == 0:
            return [line.split("\t") for line in answer.stdout.splitlines()]
        if time.monotonic() > deadline:
            raise AssertionError(f"{query[:80]} on {host}:{port}: {answer.stderr}")
        time.sleep(1)


def host(command: str, name: str) -> str:
    done = subprocess.run([sys.executable, str(CLUSTER), command, name], cwd=ROOT, check=True,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    return done.stdout


def patroni(node: str, path: str) -> int:
    """The HTTP status of Patroni's REST `path` on `node` (/primary, /replica, /sync), or 0."""
    answer = subprocess.run(
        ["ip", "netns", "exec", "tn-client", "curl", "-s", "-o", "/dev/null", "-w",
         "%{http_code}", "--max-time", "2", f"http://{NODES[node]}:{PATRONI_PORT}{path}"],
        capture_output=True, text=True,
    )  # fmt: skip
    return int(answer.stdout or 0)


def wait_for(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def leader() -> str:
    """The node that leads, once one does and the other is its synchronous standby."""
    found = {}

    def settled() -> bool:
        found["leader"] = next((n for n in NODES if patroni(n, "/primary") == 200), None)
        return found["leader"] is not None and all(
            patroni(n, "/sync") == 200 for n in NODES if n != found["leader"]
        )

    assert wait_for(settled, 180), "no leader with a synchronous standby in 180 s"
    return found["leader"]


def standby_of(node: str) -> str:
    return next(n for n in NODES if n != node)


def last_event_id() -> int:
    [[last]] = sql("SELECT coalesce(max(eid), 0) FROM django_eventstream_event")
    return int(last)


def public_events_after(after: int) -> list[int]:
    rows = sql(
        f"SELECT eid FROM django_eventstream_event WHERE eid > {int(after)}"
        " AND type <> 'stream.revoked' ORDER BY eid"
    )
    return [int(row[0]) for row in rows]


def stream_urls(cluster) -> list[str]:
    # Through each Pushpin and straight on each app host.
    return [*cluster["EDGES"].split(","), *cluster["APPS"].split(",")]


def trades_and_whole_trades() -> tuple[int, int]:
    """How many trades, and how many of them have their lines and their shipment."""
    [[trades, whole]] = sql(
        "SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM trades_tradeline l"
        " WHERE l.trade_id = t.id) AND EXISTS (SELECT 1 FROM cargo_cargo c"
        " WHERE c.trade_id = t.id)) FROM trades_trade t"
    )
    return int(trades), int(whole)


def ledger_off_levels() -> int:
    """Stock levels that differ from the sum of their ledger (0 when the ledger is exact)."""
    [[off]] = sql(
        "SELECT count(*) FROM inventory_stocklevel s LEFT JOIN (SELECT station_id, commodity_id,"
        " sum(delta) FILTER (WHERE bucket = 'on_hand') AS on_hand,"
        " sum(delta) FILTER (WHERE bucket = 'incoming') AS incoming"
        " FROM inventory_stockmovement GROUP BY 1, 2) m USING (station_id, commodity_id)"
        " WHERE s.on_hand <> coalesce(m.on_hand, 0) OR s.incoming <> coalesce(m.incoming, 0)"
    )
    return int(off)


def singleton_locks(sample: dict) -> dict[str, int]:
    """The advisory locks of a sample but the migrations' (held only while migrating)."""
    return {k: n for k, n in sample.get("held", {}).items() if int(k) != MIGRATION_LOCK}
