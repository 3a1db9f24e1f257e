"""The cluster of deploy/cluster/up, under faults: hosts in network namespaces, HAProxy in front
of two app hosts, PgBouncer, the database tier under Patroni (a leader and its synchronous
standby, which serves the lists), Redis, RabbitMQ, two Pushpins. The database's own failures are
tests/deploy/cluster/test_failover.py.

Every client runs inside a namespace (tests/deploy/cluster/agents.py); this process only starts them
and reads what they report. Skipped where there is no root or no `ip netns`.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.deploy.cluster.support import (
    STATE,
    agent,
    host,
    last_event_id,
    leader,
    ledger_off_levels,
    public_events_after,
    report,
    singleton_locks,
    sql,
    standby_of,
    stream_urls,
    trades_and_whole_trades,
    wait_for,
    why_not,
)  # fmt: skip
from tests.servers import superuser_token

pytestmark = pytest.mark.skipif(why_not() is not None, reason=why_not() or "")


def test_an_app_host_killed_and_restarted_under_load_loses_and_doubles_nothing(cluster):
    leader()
    before, _ = trades_and_whole_trades()
    locks = agent("tn-client", "leader_locks", "--dsn", cluster["PRIMARY"], "--seconds", "34")
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
    trades, whole = trades_and_whole_trades()
    assert trades - before == len(ids) and trades == whole
    assert ledger_off_levels() == 0  # the ledger sums to the levels, everywhere
    # Exactly one relay and one of each exporter at every moment; after the kill, the other
    # host's standbys take over within 5 s.
    samples = [s for s in samples if "held" in s]
    singletons = set(singleton_locks(samples[0]))
    assert len(singletons) >= 2, samples[0]
    for sample in samples:
        held = singleton_locks(sample)
        assert all(n == 1 for n in held.values()), sample
        if not killed_at <= sample["t"] <= killed_at + 5:
            assert set(held) == singletons, sample
    assert retried, "no request met the killed host: the test proved nothing"


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


def pgbouncer_servers() -> int:
    """PgBouncer's server connections (its admin console, from tn-client)."""
    answer = subprocess.run(
        ["ip", "netns", "exec", "tn-client", "psql", "-h", "10.77.0.13", "-p", "6432", "-U",
         "postgres", "-d", "pgbouncer", "-AtF", "\t", "-c", "SHOW SERVERS"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return sum(1 for line in answer.stdout.splitlines() if "\ttradenet\t" in line)


def test_200_clients_through_pgbouncer_hold_the_primary_to_the_pool(cluster):
    lists = agent("tn-client", "lists", "--base", cluster["LB"], "--token", cluster["TOKEN"],
                  "--clients", "200", "--rounds", "3")  # fmt: skip
    peaks = []
    while lists.poll() is None:
        # Every app connection reaches the leader from tn-pgb (PgBouncer's and, through
        # HAProxy, the direct ones); PgBouncer says which of them are its own.
        [[on_leader]] = sql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = 'tradenet'"
            " AND client_addr = '10.77.0.13'"
        )
        pooled = pgbouncer_servers()
        peaks.append((pooled, int(on_leader) - pooled))
        time.sleep(0.2)
    answers = report(lists)
    assert answers["statuses"] == {"200": 600}, answers
    assert max(p for p, _ in peaks) <= 20  # PgBouncer's default_pool_size
    # The direct ones: per worker its relay, exporters and listeners, not one per client.
    assert max(d for _, d in peaks) <= 2 * 2 * 8
    logs = "".join(p.read_text(errors="replace") for p in (STATE / "logs").glob("tn-app*.log"))
    assert "prepared statement" not in logs


def test_the_replica_serves_lists_the_writer_always_reads_its_writes_and_may_stop(cluster):
    standby = standby_of(leader())

    def replica_scans() -> int:
        [[scans]] = sql(
            "SELECT coalesce(sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)), 0)"
            " FROM pg_stat_user_tables WHERE relname = 'trades_trade'",
            node=standby,
        )
        return int(scans)

    before = replica_scans()
    pairs = report(agent("tn-client", "read_your_writes", "--base", cluster["LB"],
                         "--token", cluster["TOKEN"], "--pairs", "1000"), timeout=900)  # fmt: skip
    assert pairs["missed"] == []
    lists = report(agent("tn-client", "lists", "--base", cluster["LB"], "--token",
                         cluster["TOKEN"], "--clients", "10", "--rounds", "5"))  # fmt: skip
    assert lists["statuses"] == {"200": 50}
    assert wait_for(lambda: replica_scans() > before, 20), "the replica served no list"

    host("crash-host", standby)  # the standby's host crashes
    try:
        time.sleep(0.5)
        after = report(agent("tn-client", "lists", "--base", cluster["LB"], "--token",
                             cluster["TOKEN"], "--clients", "10", "--rounds", "3"))  # fmt: skip
    finally:
        # Back by itself once its host is: Patroni starts it as the synchronous standby again.
        host("start-host", standby)
    assert after["statuses"] == {"200": 30}, after
    assert after["slowest"] < 5, after  # no hang on the dead standby (2.05 s seen under load)
    assert leader() != standby
