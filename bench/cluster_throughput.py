#!/usr/bin/env python
"""The cluster benchmark: trades through HAProxy on one and on two app hosts, and 10,000 stream
clients held by two Pushpins, against pgbench on the same SQL in the same run.

    sudo .venv/bin/python bench/cluster_throughput.py    # 16 clients, 20 s a run, 10,000 streams

It brings up its own cluster (deploy/cluster/up: network namespaces on a private bridge,
HAProxy, two app hosts running deploy/start.sh, PgBouncer in transaction mode, a primary and
its synchronous standby under Patroni, Redis, RabbitMQ, two Pushpins) with the bench user's
throttle and stream cap raised, and takes it down at the end (--keep leaves it up). Every
client runs in the tn-client namespace; nothing here sends to a cluster address from the
root namespace.

1. The ceiling: pgbench, from tn-client straight to the primary, runs the SQL one trade needs
   (bench/trade_pgbench.sql) on a scratch database of the same schema and seed.
2. Trades through HAProxy with both app hosts, then with tn-app2 killed (one host): wrk POSTs
   one-line trades between random stations of 214.
3. The same with STREAMS station streams open, half through each Pushpin: every client must
   receive every trade.initiated of its station committed while it listened; commit -> client
   latency over all of them.

CPU is read from /proc for each host's process tree before and after each run: each app host
(uvicorn's workers and supervisor) and their sum, the primary, PgBouncer, HAProxy, the
Pushpins. The ceiling is measured twice: the trade's SQL, and the same with the NOTIFY every
trade's transaction sent before issue 40 (what it cost the primary). On this
2-core machine every host shares the same two cores, so two app hosts cannot be faster than
one; CPU per trade says what hosts with cores of their own would do. Needs root, wrk and
pgbench (installed with apt where missing).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import ROOT, CpuWatch, cpu_ms_per, log, percentile, stream_completeness
from _profile import WorkerProfile, print_profile
from trade_throughput import SEED, a_worker, run_pgbench, run_wrk

sys.path.insert(0, str(ROOT / "deploy" / "cluster"))
import cluster  # deploy/cluster/cluster.py: addresses, state, host commands

HERE = Path(__file__).resolve().parent
STATE = cluster.STATE
CLIENT = ("ip", "netns", "exec", "tn-client")
CEILING_DB = "tradenet_bench_ceiling"
LIMITS = {"TRADENET_THROTTLE_USER": "10000000/min", "TRADENET_SSE_MAX_STREAMS_PER_USER": "100000"}
# Patroni's first leader (deploy/cluster/database.py); the benchmark runs no failover.
LEADER = cluster.database.DB_HOSTS[0]
PRIMARY = cluster.addr(LEADER)


def sql(statement: str, dbname: str = "tradenet") -> list[list[str]]:
    """A statement on the primary, from the primary's own host."""
    done = subprocess.run(
        ["ip", "netns", "exec", LEADER, "psql", "-h", PRIMARY, "-U", "postgres", "-d", dbname,
         "-v", "ON_ERROR_STOP=1", "-AtF", "\t", "-c", statement],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"psql on the primary failed: {done.stderr.strip()}")
    return [line.split("\t") for line in done.stdout.splitlines() if line]


def ensure_tools() -> None:
    missing = [tool for tool in ("wrk", "pgbench") if not shutil.which(tool)]
    if missing:
        packages = ["wrk" if tool == "wrk" else "postgresql-client" for tool in missing]
        log(f"installing {', '.join(packages)} (apt)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "NEEDRESTART_SUSPEND": "1"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=env)


def app_shell(code: str, **env_changes: str | None) -> dict:
    """Django's shell on tn-app1 with that host's environment (changed as given)."""
    env = json.loads((STATE / "app.env.json").read_text())["tn-app1"]
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    done = subprocess.run(
        [*cluster.in_ns("tn-app1", env["PYTHON"], "manage.py", "shell", "-c",
                        "import json\n" + code)],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"manage.py shell on tn-app1 failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def app_manage(*args: str, **env_changes: str | None) -> None:
    code = "from django.core.management import call_command\n"
    code += f"call_command(*{list(args)!r})\nprint('{{}}')\n"
    app_shell(code, **env_changes)


def pid(name: str) -> int:
    return int((STATE / "pids" / f"{name}.pid").read_text())


def postmaster(host: str) -> int:
    """The PostgreSQL server of a database host (its data directory's pid file): its CPU is
    the tier's, without Patroni's."""
    return int((STATE / host / "data" / "postmaster.pid").read_text().split()[0])


def tiers() -> dict[str, list[int]]:
    """The process trees whose CPU is read, by tier."""
    hosts = [host for host in cluster.APP_HOSTS if (STATE / "pids" / f"{host}.pid").exists()]
    return {
        "app hosts": [pid(host) for host in hosts],
        **{host: [pid(host)] for host in hosts},
        "PostgreSQL primary": [postmaster(LEADER)],
        "PgBouncer": [pid("pgbouncer")],
        "HAProxy": [pid("haproxy")],
        "Pushpins": [pid(f"pushpin-{edge}") for edge in cluster.EDGES],
    }


def ceiling(args) -> dict:
    """pgbench on the same SQL, on a scratch copy of the schema and seed on the primary."""
    sql(f'DROP DATABASE IF EXISTS "{CEILING_DB}" WITH (FORCE)', "postgres")
    sql(f'CREATE DATABASE "{CEILING_DB}"', "postgres")
    scratch = f"postgres://postgres@{PRIMARY}:5432/{CEILING_DB}"
    scratch_env = {
        "DATABASE_URL": scratch,
        "DATABASE_DIRECT_URL": scratch,
        "DATABASE_REPLICA_URL": None,
        "GRIP_URL": None,
    }
    try:
        app_manage("migrate", "--noinput", "--verbosity", "0", **scratch_env)
        seeded = app_shell(SEED, **scratch_env)
        stations, commodities = len(seeded["stations"]), len(seeded["commodities"])
        sql("DELETE FROM tradenet_outbox", CEILING_DB)
        sql("VACUUM ANALYZE", CEILING_DB)
        db = {"HOST": PRIMARY, "PORT": 5432, "USER": "postgres", "PASSWORD": ""}
        results = {}
        for notify in (False, True):
            log(f"ceiling: pgbench, {args.clients} clients, {args.seconds} s, the trade's SQL"
                + (" with the NOTIFY it had before issue 40" if notify else ""))  # fmt: skip
            with CpuWatch(tiers()) as cpu:
                result = run_pgbench(db, args.clients, args.seconds, stations, commodities,
                                     dbname=CEILING_DB, prefix=CLIENT, notify=notify,
                                     agreements=True)  # fmt: skip
            result["cpu"] = cpu.used
            results["notify" if notify else "plain"] = result
        return results
    finally:
        sql(f'DROP DATABASE IF EXISTS "{CEILING_DB}" WITH (FORCE)', "postgres")


def lua_list(names: list[str]) -> str:
    return "{" + ", ".join(json.dumps(name) for name in names) + "}"


def trades(args, lua: str, label: str, profile: bool = False) -> dict:
    """wrk through HAProxy; with `profile`, py-spy samples tn-app1's busiest worker meanwhile."""
    lb = cluster.addr("tn-lb")
    run_wrk(f"http://{lb}", lua, args.clients, 3, prefix=CLIENT)  # warm-up
    log(f"{label}: wrk, {args.clients} clients, {args.seconds} s through HAProxy")
    sampler = WorkerProfile(a_worker(pid("tn-app1")), max(5, args.seconds - 4)) if profile else None
    if sampler is not None:
        sampler.start()
    with CpuWatch(tiers()) as cpu:
        result = run_wrk(f"http://{lb}", lua, args.clients, args.seconds, prefix=CLIENT)
    result["cpu"] = cpu.used
    if sampler is not None:
        result["profile"] = (sampler.pid, *sampler.top())
    return result


def paced_trades(args, token: str, stations: list[str], commodities: list[str]) -> dict:
    """`args.stream_rate` trades a second for `args.seconds`, through HAProxy, from tn-client."""
    lb = cluster.addr("tn-lb")
    log(f"{args.stream_rate:g} trades/s for {args.seconds} s through HAProxy, streams open")
    with CpuWatch(tiers()) as cpu:
        done = subprocess.run(
            [*CLIENT, sys.executable, str(HERE / "_paced_trades.py"), f"http://{lb}", token,
             str(args.stream_rate), str(args.seconds), ",".join(stations), ",".join(commodities)],
            capture_output=True, text=True,
        )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"the paced trades failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["cpu"] = cpu.used
    result["rate"] = result["answered"] / result["seconds"]
    return result


def open_streams(count: int, token: str, stations: list[str]) -> list[subprocess.Popen]:
    """`count` station streams, half through each Pushpin, each half in a client process of
    its own (in tn-client); returned once every stream is open."""
    processes = []
    for number, edge in enumerate(cluster.EDGES):
        share = count // len(cluster.EDGES) + (number < count % len(cluster.EDGES))
        base = f"http://{cluster.addr(edge)}:7999"
        command = [*CLIENT, sys.executable, str(HERE / "_sse_clients.py"), base, token,
                   str(share), ",".join(stations), "--latencies"]  # fmt: skip
        processes.append(
            subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        )
    for process in processes:
        line = process.stdout.readline()
        if not line.startswith("connected"):
            for other in processes:
                other.kill()
            sys.exit(f"the stream clients did not connect: {line!r}")
    return processes


def recoveries() -> int:
    """Pushpin's recovery requests answered so far, summed over the app hosts' /metrics."""
    total = 0
    for host in cluster.APP_HOSTS:
        done = subprocess.run([*CLIENT, "curl", "-s", "--max-time", "5",
                               f"http://{cluster.addr(host)}:8000/metrics"],
                              capture_output=True, text=True)  # fmt: skip
        for line in done.stdout.splitlines():
            if line.startswith("tradenet_pushpin_recoveries_total{"):
                total += int(float(line.rsplit(" ", 1)[1]))
    return total


def settle(limit: float = 300) -> dict:
    """Wait until Pushpin has stopped asking for what its new streams missed. Pushpin asks
    again for every stream of a channel it has just subscribed, at most 10 a second
    (updates/streams/sequence.py: recovered_events), so a burst of new streams takes a while
    to settle; the measured run starts after it."""
    started = time.monotonic()
    first = last = recoveries()
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < 3 and time.monotonic() - started < limit:
        time.sleep(1)
        now = recoveries()
        if now != last:
            last, quiet_since = now, time.monotonic()
    return {"seconds": time.monotonic() - started - 3, "recoveries": last - first}


def close_streams(processes: list[subprocess.Popen]) -> list[dict]:
    return [
        json.loads(process.communicate("stop\n", timeout=300)[0].strip().splitlines()[-1])
        for process in processes
    ]


def stream_report(reports: list[dict], since: float) -> dict:
    """Every client must have every trade.initiated of its station committed while it
    listened (read from the primary)."""
    rows = sql(
        "SELECT s.code, t.transaction_id FROM trades_trade t JOIN inventory_station s "
        f"ON s.id IN (t.seller_id, t.buyer_id) WHERE t.created_at >= to_timestamp({since})"
    )
    latencies = [x for got in reports for x in got["latencies"]]
    return {
        "clients": sum(got["clients"] for got in reports),
        "received": len(latencies),
        **stream_completeness(rows, reports),
        "dropped": sum(got["dropped"] for got in reports),
        "reconnects": sum(got["reconnects"] for got in reports),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies, default=float("nan")) * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=16, help="HTTP clients (and pgbench's)")
    parser.add_argument("--seconds", type=int, default=20, help="length of each run")
    parser.add_argument("--streams", type=int, default=10_000, help="stream clients, last run")
    parser.add_argument(
        "--stream-rate", type=float, default=10, help="trades a second while streams are open"
    )
    parser.add_argument("--keep", action="store_true", help="leave the cluster up")
    parser.add_argument("--streams-only", action="store_true", help="only the streams' run")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy on a worker of tn-app1, one-host run"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/cluster_throughput.py: run as root (it builds network namespaces)")
    if (STATE / "pids").exists():
        sys.exit(f"a cluster is up ({STATE}): deploy/cluster/down first; the benchmark brings "
                 "up its own, with the bench user's limits raised")  # fmt: skip
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.streams + 4096
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), max(hard, wanted)))
    ensure_tools()

    log("deploy/cluster/up")
    subprocess.run([str(ROOT / "deploy" / "cluster" / "up")], check=True,
                   env={**os.environ, **LIMITS}, stdout=subprocess.DEVNULL)  # fmt: skip
    results: dict = {}
    try:
        if cluster.database.leader() != LEADER:
            sys.exit(f"cluster: {LEADER} is not Patroni's leader; see {STATE}/logs")
        seeded = app_shell(SEED)
        token, stations, commodities = seeded["token"], seeded["stations"], seeded["commodities"]
        log(f"seeded {len(stations)} stations, {len(commodities)} commodities, ample stock")
        results["ceiling"] = ceiling(args) if not args.streams_only else None
        # As in bench/trade_throughput.py: a seller's operator, each trade inside the buyer's
        # standing agreement (the ceiling runs the same SQL: trade_pgbench_agreement.sql).
        lua = (
            (HERE / "trade_wrk.lua")
            .read_text()
            .format(
                sellers=lua_list(seeded["sellers"]),
                buyers=lua_list(seeded["buyers"]),
                commodities=lua_list(commodities),
                token=seeded["operator_token"],
            )
        )
        if not args.streams_only:
            results["two"] = trades(args, lua, "two app hosts")
            log("tn-app2 killed (-9): one app host")
            cluster.kill_host("tn-app2")
            time.sleep(6)  # HAProxy's checks (3 x 1 s) and the standby relay's takeover
            results["one"] = trades(args, lua, "one app host", profile=args.profile)
            log("tn-app2 started again")
            cluster.start_app_host("tn-app2")
            time.sleep(4)  # HAProxy's checks (2 x 1 s) put it back
        if args.streams:
            log(f"opening {args.streams} stream clients through the two Pushpins")
            opened = time.monotonic()
            streams = open_streams(args.streams, token, stations)
            results["connect_seconds"] = time.monotonic() - opened
            results["settle"] = settle()
            log(f"settled: {results['settle']['recoveries']} Pushpin recoveries in "
                f"{results['settle']['seconds']:.0f} s")  # fmt: skip
            since = time.time()
            results["streamed"] = paced_trades(args, token, stations, commodities)
            time.sleep(5)  # the last events reach the clients
            results["streams"] = stream_report(close_streams(streams), since)
    finally:
        if not args.keep:
            log("deploy/cluster/down")
            subprocess.run([str(ROOT / "deploy" / "cluster" / "down")],
                           stdout=subprocess.DEVNULL, check=False)  # fmt: skip
    report(results, args)
    return 0


NO_RUN = {"rate": float("nan"), "failed": 0, "count": 0, "cpu": {}}
# CPU per trade, by tier: the app hosts together and each, the primary, PgBouncer, HAProxy.
COLUMNS = (("apps", "app hosts"), ("app1", "tn-app1"), ("app2", "tn-app2"),
           ("PG", "PostgreSQL primary"), ("PgB", "PgBouncer"), ("LB", "HAProxy"))  # fmt: skip


def cpu_columns(run: dict, count: int) -> str:
    return " ".join(f"{cpu_ms_per(run, tier, count):5.2f}ms" for _, tier in COLUMNS)


def report(results: dict, args) -> None:
    ceilings = results["ceiling"] or {"plain": NO_RUN, "notify": NO_RUN}
    top = ceilings["plain"]
    lines = [
        "",
        f"Cluster: trades through HAProxy, {args.clients} clients, {args.seconds} s a run, "
        "one-line trades between random stations (2 cores shared by every host)",
        f"  {'':44} {'trades/s':>9} {'of ceiling':>10} {'p50':>8} {'p99':>8} {'errors':>6} "
        + " ".join(f"{name:>7}" for name, _ in COLUMNS)
        + "   (CPU per trade)",
    ]
    for key, label in (("plain", "pgbench, the trade's SQL, to the primary"),
                       ("notify", "pgbench, the same with the old NOTIFY")):  # fmt: skip
        run = ceilings[key]
        lines.append(
            f"  {label:44} {run['rate']:9.0f} {run['rate'] / top['rate']:10.0%} {'':>8} "
            f"{'':>8} {run['failed']:6d} {cpu_columns(run, run['count'])}"
        )
    for key, label in (
        ("one", "one app host"),
        ("two", "two app hosts"),
        ("streamed", f"two hosts, {args.streams} streams, paced"),
    ):
        if key not in results:
            continue
        run = results[key]
        count = run["answered"]
        errors = run["errors"] if isinstance(run["errors"], int) else sum(run["errors"].values())
        lines.append(
            f"  {label:44} {run['rate']:9.1f} {run['rate'] / top['rate']:10.1%} "
            f"{run['p50_ms']:6.0f}ms {run['p99_ms']:6.0f}ms {errors:6d} {cpu_columns(run, count)}"
        )
    one = results.get("one")
    if one:
        app_ms = cpu_ms_per(one, "app hosts", one["answered"])
        pg_ms = cpu_ms_per(one, "PostgreSQL primary", one["answered"])
        lines.append(
            f"  predicted with cores of their own: {1000 / app_ms:.0f} trades/s per app-host "
            f"core, {1000 / pg_ms:.0f} per primary core before PostgreSQL is the limit"
        )
    if "streams" in results:
        s = results["streams"]
        pushpin_ms = results["streamed"]["cpu"]["Pushpins"] * 1000 / max(s["received"], 1)
        lines.append(
            f"  {s['clients']} stream clients via 2 Pushpins: {s['received']} trade.initiated "
            f"received of {s['expected']} expected ({s['missing']} missing, {s['dropped']} "
            f"dropped, {s['reconnects']} reconnections); commit -> client "
            f"p50 {s['p50_ms']:.0f} ms, p99 {s['p99_ms']:.0f} ms, "
            f"max {s['max_ms']:.0f} ms; Pushpin CPU {pushpin_ms:.3f} ms per trade delivered to a "
            "stream (its 3 events there)"
        )
        lines.append(
            f"  the streams connected in {results['connect_seconds']:.0f} s; Pushpin then asked "
            f"again for {results['settle']['recoveries']} of them (its 10 a second limit) and "
            f"settled in {results['settle']['seconds']:.0f} s"
        )
    print("\n".join(lines))
    if one and "profile" in one:
        print_profile(*one["profile"][1:], one["profile"][0])


if __name__ == "__main__":
    sys.exit(main())
