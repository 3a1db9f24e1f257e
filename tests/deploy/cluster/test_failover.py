"""The database's primary fails over under load, and TradeNet rides through it.

Patroni leads the two PostgreSQL nodes with synchronous replication (deploy/cluster/database.py).
Sixteen clients post trades with Idempotency-Keys through the load balancer while, at 10 s,
the leader's host is killed (every process, -9) or cut off the network (and healed later).
Stream clients (through each Pushpin and on each app host), a RabbitMQ consumer of the feed
and a webhook receiver run throughout. Afterwards:

- every key was answered 201 (the API answered 503 with Retry-After meanwhile, never a 500,
  and each app host's /readyz said the database was away),
  each trade is in the database once and whole, and the ledger sums to the levels;
- writes stopped for at most 20 s (the RTO, printed), and no acknowledged trade was lost (RPO);
- the public event ids committed during the run are gapless, every consumer ends with each
  exactly once after dedupe by id, and no id ever stood for two different events;
- at most one relay and one of each exporter held its lock at any sampled moment, and all of
  them were held again on the new leader;
- the old primary rejoins as the synchronous standby by itself; cut off, it took no write
  once its leader key had expired.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from itertools import pairwise
from pathlib import Path

import pytest

from tests.deploy.cluster.support import (
    NODES,
    STATE,
    agent,
    host,
    last_event_id,
    leader,
    ledger_off_levels,
    patroni,
    report,
    singleton_locks,
    sql,
    standby_of,
    stream_urls,
    trades_and_whole_trades,
    wait_for,
    why_not,
)  # fmt: skip

pytestmark = pytest.mark.skipif(why_not() is not None, reason=why_not() or "")

TTL = 10  # Patroni's leader key (deploy/cluster/database.py)
TRADE_SECONDS, FAULT_AT = 40, 10
RTO_LIMIT = 20
WEBHOOK_RECEIVER = "10.77.0.50:9009"  # in tn-client


class Run:
    """The trades, the consumers and the lock sampler of one fault, started together."""

    def __init__(self, cluster: dict, work: Path):
        self.cluster, self.work = cluster, work
        token = ["--token", cluster["TOKEN"]]

        def until(name: str) -> list[str]:  # each consumer polls a stop file of its own
            return ["--stop-file", str(work / name), "--seconds", "240"]

        # The feed's queue and the webhook endpoint exist before the first id counted.
        self.feed = agent("tn-client", "feed", "--dsn", cluster["AMQP"], "--exchange",
                          cluster["EXCHANGE"], *until("feed"))  # fmt: skip
        self.webhooks = agent("tn-client", "webhooks", "--base", cluster["LB"], *token,
                              "--listen", WEBHOOK_RECEIVER, *until("webhooks"))  # fmt: skip
        for name in ("feed", "webhooks"):
            ready = work / f"{name}.ready"
            assert wait_for(ready.exists, 60), f"the {name} consumer did not start"
        time.sleep(2)  # the fan-out reads the new endpoint with its next batch
        self.after = last_event_id()
        self.streams = agent("tn-client", "follow", *token, "--after", str(self.after),
                             *until("streams"), "--urls", *stream_urls(cluster))  # fmt: skip
        self.locks = agent("tn-client", "leader_locks", "--dsn", cluster["PRIMARY"],
                           "--seconds", str(TRADE_SECONDS + 20))  # fmt: skip
        self.readiness = agent("tn-client", "readiness", "--seconds", str(TRADE_SECONDS + 20),
                               "--urls", *cluster["APPS"].split(","))  # fmt: skip
        self.trades_before, _ = trades_and_whole_trades()
        self.trades = agent("tn-client", "trades", "--base", cluster["LB"], *token,
                            "--seconds", str(TRADE_SECONDS), "--clients", "16",
                            "--tries", "400")  # fmt: skip
        self.started = time.time()

    def finish(self) -> dict:
        answered = report(self.trades, timeout=600)["answered"]
        time.sleep(3)  # the relay moves the last trades' events
        expected = public_ids_after(self.after)
        for path in (self.work / name for name in ("streams", "feed", "webhooks")):
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(expected))
            os.replace(temporary, path)  # whole, for the consumers that poll it
        # Every agent's report read before any is judged: one failing must not leave the
        # others running.
        reports, failed = {}, []
        for name, process in (("streams", self.streams), ("feed", self.feed),
                              ("webhooks", self.webhooks), ("locks", self.locks),
                              ("readiness", self.readiness)):  # fmt: skip
            try:
                reports[name] = report(process, timeout=300)
            except (AssertionError, subprocess.TimeoutExpired) as exc:
                process.kill()
                failed.append(f"{name}: {exc}")
        outcome = {"answered": answered, "expected": expected, **reports}
        # Everything each agent saw, kept for whoever reads a failure (beside the logs that
        # tests/deploy/cluster/conftest.py keeps).
        (self.work / "outcome.json").write_text(json.dumps(outcome))
        assert not failed, "\n".join(failed)
        return outcome


def public_ids_after(after: int) -> list[int]:
    rows = sql(
        f"SELECT eid, type FROM django_eventstream_event WHERE eid > {int(after)} ORDER BY eid"
    )
    ids = [int(eid) for eid, _ in rows]
    # Gapless: the relay numbers on from the last id committed, on whichever node leads.
    assert ids == list(range(after + 1, after + 1 + len(ids))), [
        (a, b) for a, b in pairwise(ids) if b != a + 1
    ][:5]
    return [int(eid) for eid, kind in rows if kind != "stream.revoked"]


def assert_trades_whole_and_once(run: Run, answered: list[dict]) -> float:
    """Every key answered 201, placed once and whole; returns the RTO (seconds without a 201
    around the fault)."""
    unanswered = [a for a in answered if not a["outcome"] or a["outcome"][0] != 201]
    assert answered and not unanswered, unanswered[:5]
    statuses = {s for a in answered for s in a["statuses"]}
    assert not {500, 502, "503 without Retry-After"} & statuses, statuses
    assert any(a["tries"] > 1 for a in answered), "no request met the fault: nothing proved"
    ids = [a["outcome"][1] for a in answered]
    assert len(set(ids)) == len(ids)
    trades, whole = trades_and_whole_trades()
    assert trades - run.trades_before == len(ids) and trades == whole
    quoted = ",".join(f"'{i}'" for i in ids)
    [[found]] = sql(f"SELECT count(*) FROM trades_trade WHERE transaction_id IN ({quoted})")
    assert int(found) == len(ids)  # RPO 0: every 201 is on the new leader
    assert ledger_off_levels() == 0
    answers = sorted(a["at"] for a in answered)
    return max(b - a for a, b in pairwise(answers))


def assert_every_event_once(outcome: dict) -> None:
    expected, digests = set(outcome["expected"]), {}
    assert len(expected) > 100, len(expected)
    consumers = {f"stream {url}": got for url, got in outcome["streams"]["got"].items()}
    consumers |= {"RabbitMQ": outcome["feed"]["got"], "webhooks": outcome["webhooks"]["got"]}
    low = min(expected)
    for name, got in consumers.items():
        deduped = {event_id for event_id, _, _ in got if event_id >= low}
        missing = sorted(expected - deduped)
        assert deduped == expected, (
            f"{name}: {len(missing)} of {len(expected)} ({min(expected)}..{max(expected)})"
            f" missing, from {missing[:3]}; extra {sorted(deduped - expected)[:3]};"
            f" reconnections {outcome['streams']['reconnects'].get(name[7:], [])[-8:]}"
        )
        for event_id, digest, _ in got:
            digests.setdefault(event_id, set()).add(digest)
    # One body per id, across every consumer and every copy: an id never stood for two events.
    reused = {event_id: d for event_id, d in digests.items() if len(d) > 1}
    assert not reused, list(reused.items())[:5]


def assert_one_of_each_lock(samples: list[dict], old: str, new: str) -> None:
    held = [s for s in samples if "held" in s]
    before = [s for s in held if s["node"] == NODES[old]]
    after = [s for s in held if s["node"] == NODES[new]]
    assert before and after, {s.get("node") for s in held}
    singletons = set(singleton_locks(before[0]))
    assert len(singletons) >= 4, before[0]  # the relay, the feed, the fan-out, the sender
    for sample in held:
        assert all(n == 1 for n in singleton_locks(sample).values()), sample
    # Taken again on the new leader, and from then on all held, each once.
    retaken = next(
        (s["t"] for s in after if set(singleton_locks(s)) == singletons), None
    )  # fmt: skip
    assert retaken is not None and retaken - after[0]["t"] < 15, after[-1]
    for sample in after:
        if sample["t"] >= retaken:
            assert set(singleton_locks(sample)) == singletons, sample


def assert_readyz_told_of_the_switch(samples: dict[str, list], fault_at: float) -> None:
    """Each app host's /readyz answered 503 while the database was away, and 200 again after."""
    for url, statuses in samples.items():
        during = [s for t, s in statuses if fault_at < t < fault_at + 30]
        assert 503 in during, (url, sorted(set(during)))
        last_503 = max(t for t, s in statuses if s == 503)
        assert any(s == 200 for t, s in statuses if t > last_503), (url, statuses[-5:])


def assert_rejoins_as_standby(old: str, new: str) -> None:
    assert wait_for(lambda: patroni(old, "/replica") == 200, 180), f"{old} did not rejoin"
    [[streaming]] = sql(
        f"SELECT count(*) FROM pg_stat_replication WHERE client_addr = '{NODES[old]}'"
        " AND state = 'streaming'"
    )
    assert streaming == "1"
    assert leader() == new  # and it is the synchronous standby again
    [[on_new]] = sql("SELECT count(*) FROM trades_trade")
    assert wait_for(
        lambda: sql("SELECT count(*) FROM trades_trade", node=old) == [[on_new]], 30
    )  # fmt: skip


def test_the_primary_host_killed_under_load_fails_over_losing_and_reusing_nothing(
    cluster, tmp_path
):
    old = leader()
    new = standby_of(old)
    run = Run(cluster, tmp_path)
    time.sleep(FAULT_AT)
    crashed_at = time.time()
    host("crash-host", old)
    try:
        outcome = run.finish()
    finally:
        host("start-host", old)  # its host back: Patroni rewinds it if needed and follows

    rto = assert_trades_whole_and_once(run, outcome["answered"])
    assert rto <= RTO_LIMIT, rto
    assert patroni(new, "/primary") == 200
    assert_every_event_once(outcome)
    assert_one_of_each_lock(outcome["locks"]["samples"], old, new)
    assert_readyz_told_of_the_switch(outcome["readiness"]["samples"], crashed_at)
    print(f"\nkill -9 of {old} at {crashed_at - run.started:.1f} s: {rto:.1f} s without a"
          f" trade answered, {len(outcome['answered'])} keys all 201, RPO 0")  # fmt: skip
    assert_rejoins_as_standby(old, new)


def test_the_primary_host_cut_off_stops_writing_and_comes_back_as_a_standby(cluster, tmp_path):
    old = leader()
    new = standby_of(old)
    sql("CREATE TABLE IF NOT EXISTS cluster_fence_probe (at timestamptz NOT NULL)")
    # A writer on the old primary's own host, over its Unix socket: it still reaches its
    # PostgreSQL with the link down, as a process on that host would.
    fence = agent(old, "fence", "--socket-dir", str(STATE / old),
                  "--seconds", str(FAULT_AT + TRADE_SECONDS))  # fmt: skip
    run = Run(cluster, tmp_path)
    time.sleep(FAULT_AT)
    cut_at = time.time()
    host("cut", old)
    try:
        assert wait_for(lambda: patroni(new, "/primary") == 200, 60), "no failover"
        promoted_at = time.time()
        time.sleep(10)  # a partition that lasts: the old primary is long out of the lead
    finally:
        host("heal", old)
    outcome = run.finish()
    fenced = report(fence, timeout=120)

    rto = assert_trades_whole_and_once(run, outcome["answered"])
    assert rto <= RTO_LIMIT, rto
    assert_every_event_once(outcome)
    assert_one_of_each_lock(outcome["locks"]["samples"], old, new)
    assert_readyz_told_of_the_switch(outcome["readiness"]["samples"], cut_at)
    # The old primary took local writes before the cut and none once its key had expired.
    assert [w for w in fenced["writes"] if w < cut_at], fenced["samples"][:5]
    late = [w - cut_at for w in fenced["writes"] if w > cut_at + TTL + 1]
    assert not late, (late[:5], fenced["samples"])
    last_write = max(fenced["writes"]) - cut_at
    print(f"\ncut of {old}: {promoted_at - cut_at:.1f} s to a new leader, its last local write"
          f" {last_write:.1f} s after the cut, {rto:.1f} s without a trade answered")  # fmt: skip

    assert_rejoins_as_standby(old, new)
    # What it wrote alone was rewound away: none of it is on the leader or on itself.
    [[on_leader]] = sql(
        f"SELECT count(*) FROM cluster_fence_probe WHERE at > to_timestamp({cut_at + 1})"
    )
    assert on_leader == "0"
    assert sql("SELECT count(*) FROM cluster_fence_probe", node=old) == sql(
        "SELECT count(*) FROM cluster_fence_probe"
    )
