"""The cluster of deploy/cluster/up, under faults: hosts in network namespaces, HAProxy in front
of two app hosts, PgBouncer, a primary and its streaming replica, Redis, two Pushpins.

Every client runs inside a namespace (tests/cluster/agents.py); this process only starts them
and reads what they report. Skipped where there is no root or no `ip netns`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers import superuser_token

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "deploy" / "cluster" / "cluster.py"
STATE = Path("/var/tmp/tradenet-cluster")
AGENTS = "tests/cluster/agents.py"
MIGRATION_LOCK = 7_362_201


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "the cluster tests need root (network namespaces)"
    if not shutil.which("ip") or subprocess.run(["ip", "netns", "list"]).returncode != 0:
        return "the cluster tests need `ip netns` (iproute2)"
    if STATE.exists():
        return f"a cluster is up already ({STATE}): deploy/cluster/down first"
    return None


pytestmark = pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")


@pytest.fixture(scope="module")
def cluster():
    up = subprocess.run([sys.executable, str(CLUSTER), "up"], cwd=ROOT, capture_output=True,
                        text=True, timeout=900)  # fmt: skip
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    info = dict(
        line.split("=", 1) for line in (STATE / "cluster.env").read_text().splitlines() if line
    )
    try:
        yield info
    finally:
        subprocess.run([sys.executable, str(CLUSTER), "down"], cwd=ROOT, timeout=300)


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


def sql(query: str) -> list[list[str]]:
    """A query on the primary, from inside its own host."""
    answer = subprocess.run(
        ["ip", "netns", "exec", "tn-db", "psql", "-h", "10.77.0.10", "-U", "postgres", "-d",
         "tradenet", "-AtF", "\t", "-c", query],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [line.split("\t") for line in answer.stdout.splitlines()]


def host(command: str, name: str) -> None:
    subprocess.run([sys.executable, str(CLUSTER), command, name], cwd=ROOT, check=True,
                   capture_output=True, timeout=300)  # fmt: skip


def test_an_app_host_killed_and_restarted_under_load_loses_and_doubles_nothing(cluster):
    [[before]] = sql("SELECT count(*) FROM trades_trade")
    locks = agent("tn-db", "locks", "--dsn", cluster["PRIMARY"], "--seconds", "34")
    load = agent("tn-client", "trades", "--base", cluster["LB"], "--token", cluster["TOKEN"],
                 "--seconds", "30", "--clients", "16")  # fmt: skip
    time.sleep(10)
    killed_at = time.time()
    host("kill-host", "tn-app1")
    time.sleep(10)
    host("start-host", "tn-app1")
    answered = report(load)["answered"]
    samples = report(locks)["samples"]

    # Every key answered, 201, and placed once: one trade per key, whole (lines, shipment).
    assert answered and all(a["outcome"] and a["outcome"][0] == 201 for a in answered), [
        a for a in answered if not a["outcome"] or a["outcome"][0] != 201
    ][:5]
    ids = [a["outcome"][1] for a in answered]
    assert len(set(ids)) == len(ids)
    retried = [a for a in answered if a["tries"] > 1]
    [[trades, whole]] = sql(
        "SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM trades_tradeline l"
        " WHERE l.trade_id = t.id) AND EXISTS (SELECT 1 FROM cargo_cargo c"
        " WHERE c.trade_id = t.id)) FROM trades_trade t"
    )
    assert int(trades) - int(before) == len(ids) and trades == whole
    # The ledger sums to the levels, for every station and commodity.
    assert sql(
        "SELECT count(*) FROM inventory_stocklevel s LEFT JOIN (SELECT station_id, commodity_id,"
        " sum(delta) FILTER (WHERE bucket = 'on_hand') AS on_hand,"
        " sum(delta) FILTER (WHERE bucket = 'incoming') AS incoming"
        " FROM inventory_stockmovement GROUP BY 1, 2) m USING (station_id, commodity_id)"
        " WHERE s.on_hand <> coalesce(m.on_hand, 0) OR s.incoming <> coalesce(m.incoming, 0)"
    ) == [["0"]]
    # Exactly one relay and one of each exporter at every moment; after the kill, the other
    # host's standbys take over within 5 s.
    singletons = {k for k, n in samples[0]["held"].items() if int(k) != MIGRATION_LOCK}
    assert len(singletons) >= 2, samples[0]
    for sample in samples:
        held = {k: n for k, n in sample["held"].items() if int(k) != MIGRATION_LOCK}
        assert all(n == 1 for n in held.values()), sample
        if not killed_at <= sample["t"] <= killed_at + 5:
            assert set(held) == singletons, sample
    assert retried, "no request met the killed host: the test proved nothing"


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


def test_streams_through_each_pushpin_and_each_host_get_every_event_once_in_order(cluster):
    after = last_event_id()
    streams = agent("tn-client", "streams", "--token", cluster["TOKEN"], "--after", str(after),
                    "--seconds", "40", "--urls", *stream_urls(cluster))  # fmt: skip
    time.sleep(2)  # some subscribe while the trades start, some before
    load = agent("tn-client", "trades", "--base", cluster["LB"], "--token", cluster["TOKEN"],
                 "--seconds", "12", "--clients", "4")  # fmt: skip
    assert report(load)["answered"]
    got = report(streams)["got"]
    expected = public_events_after(after)
    assert len(expected) > 30
    for url, ids in got.items():
        assert ids == expected, (url, len(ids), len(expected), sorted(set(expected) - set(ids))[:5])


def test_a_revoked_user_receives_nothing_committed_after_the_revocation_on_any_host(cluster):
    env = json.loads((STATE / "app.env.json").read_text())["tn-app1"]
    auditor = superuser_token(env, "auditor", namespace="tn-app1")
    streams = agent("tn-client", "streams", "--token", auditor, "--after", str(last_event_id()),
                    "--seconds", "30", "--urls", *stream_urls(cluster))  # fmt: skip
    time.sleep(3)
    revoked = report(agent("tn-client", "revoke", "--base", cluster["LB"], "--token", auditor,
                           "--dsn", cluster["TOKEN"], "--pairs", "10"))  # fmt: skip
    assert revoked["revoked"] == 204 and set(revoked["posted"]) == {201}, revoked
    [[revocation]] = sql(
        "SELECT max(eid) FROM django_eventstream_event WHERE type = 'stream.revoked'"
    )
    seen = report(streams)
    later = set(public_events_after(int(revocation)))
    assert len(later) >= 30
    for url, ids in seen["got"].items():
        assert seen["ended"][url], f"{url}: the revoked stream stayed open"
        assert not later & set(ids), (url, sorted(later & set(ids))[:5])


def test_200_clients_through_pgbouncer_hold_the_primary_to_the_pool(cluster):
    lists = agent("tn-client", "lists", "--base", cluster["LB"], "--token", cluster["TOKEN"],
                  "--clients", "200", "--rounds", "3")  # fmt: skip
    peaks = []
    while lists.poll() is None:
        [[pooled, direct]] = sql(
            "SELECT count(*) FILTER (WHERE client_addr = '10.77.0.13'),"
            " count(*) FILTER (WHERE client_addr IN ('10.77.0.21', '10.77.0.22'))"
            " FROM pg_stat_activity WHERE datname = 'tradenet'"
        )
        peaks.append((int(pooled), int(direct)))
        time.sleep(0.2)
    answers = report(lists)
    assert answers["statuses"] == {"200": 600}, answers
    assert max(p for p, _ in peaks) <= 20  # PgBouncer's default_pool_size
    # The direct ones: per worker its relay, exporters and listeners, not one per client.
    assert max(d for _, d in peaks) <= 2 * 2 * 8
    logs = "".join(p.read_text(errors="replace") for p in (STATE / "logs").glob("tn-app*.log"))
    assert "prepared statement" not in logs


def test_the_replica_serves_lists_the_writer_always_reads_its_writes_and_may_stop(cluster):
    def replica_scans() -> int:
        answer = subprocess.run(
            ["ip", "netns", "exec", "tn-db2", "psql", "-h", "10.77.0.11", "-U", "postgres",
             "-d", "tradenet", "-Atc", "SELECT coalesce(sum(coalesce(seq_scan, 0)"
             " + coalesce(idx_scan, 0)), 0) FROM pg_stat_user_tables"
             " WHERE relname = 'trades_trade'"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return int(answer.stdout.strip())

    before = replica_scans()
    pairs = report(agent("tn-client", "read_your_writes", "--base", cluster["LB"],
                         "--token", cluster["TOKEN"], "--pairs", "1000"), timeout=900)  # fmt: skip
    assert pairs["missed"] == []
    lists = report(agent("tn-client", "lists", "--base", cluster["LB"], "--token",
                         cluster["TOKEN"], "--clients", "10", "--rounds", "5"))  # fmt: skip
    assert lists["statuses"] == {"200": 50}
    deadline = time.monotonic() + 20
    while replica_scans() <= before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert replica_scans() > before, "the replica served no list"

    replica = int((STATE / "pids" / "postgres-replica.pid").read_text())
    os.killpg(replica, 9)  # the replica's host crashes
    time.sleep(0.5)
    after = report(agent("tn-client", "lists", "--base", cluster["LB"], "--token",
                         cluster["TOKEN"], "--clients", "10", "--rounds", "3"))  # fmt: skip
    assert after["statuses"] == {"200": 30}, after
    assert after["slowest"] < 2, after
