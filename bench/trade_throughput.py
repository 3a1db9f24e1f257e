#!/usr/bin/env python
"""Write-path benchmark: trades through the HTTP API against the same SQL run by pgbench.

    .venv/bin/python bench/trade_throughput.py    # 16 clients, 20 s; then with 2,000 streams

It creates a scratch database (`tradenet_bench_trades`) on the project's PostgreSQL
(DATABASE_URL, or the embedded one) and seeds 214 stations with ample stock of 10 commodities.

1. The ceiling: pgbench runs, with the same number of clients for the same time, the SQL one
   trade needs (the statements the server sends, taken from a traced API call: stock rows locked
   and moved, trade, line, ledger rows, the credits' hold (both accounts locked, the buyer's
   credits checked and the hold written in one statement), shipment, tracking row, outbox rows
   and their NOTIFY).
2. The API: the production start script (`deploy/start.sh`, production settings, its serving
   model) serves the database; wrk POSTs one-line trades between random stations as a seller's
   operator, each inside the standing agreement the buyer granted (--consent dispatch: with a
   dispatch staff token for both sides, as before consent; the per-user throttle raised with
   TRADENET_THROTTLE_USER).
3. The same with 2,000 SSE clients connected (a station stream each, spread over the stations),
   which also report commit -> client latency of every trade.initiated they receive.

It prints both rates, their ratio, p50/p99 latency, errors, round trips per trade (counted on
the wire) and the CPU per trade of the server and of PostgreSQL, read from /proc once the
exports (the RabbitMQ feed, the webhooks) have carried every event of the run, so what they do
after wrk stops is counted; then drops the scratch database. Needs pgbench and wrk (Debian:
postgresql-client, wrk).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import (
    CpuWatch,
    admin_connection,
    base_database,
    cpu_ms_per,
    cpu_seconds,
    drop_database,
    log,
    manage,
    percentile,
    postmaster_pid,
    process_tree,
    production_env,
    recreate_database,
    shell,
    start_server,
    stop_server,
    stream_completeness,
)
from _exports import RABBITMQ, ExportWatch, rabbitmq_answers
from _profile import WorkerProfile, print_profile

BENCH_DB = "tradenet_bench_trades"
HERE = Path(__file__).resolve().parent

SEED = """
from django.contrib.auth import get_user_model
from knox.models import AuthToken
from inventory.models import Commodity, Station, StockLevel
from inventory.services import StockChange, stock_apply, stock_open
from inventory.seeding import generate_stations, load_galaxy, read_galaxy_file
from pathlib import Path
import random
load_galaxy(read_galaxy_file(Path("inventory/data/galaxy.json")))
generate_stations(200, seed=7)
stations, commodities = list(Station.objects.all()), list(Commodity.objects.all())
held = set(StockLevel.objects.values_list("station_id", "commodity_id"))
stock_open([(s, c, 10**9) for s in stations for c in commodities if (s.pk, c.pk) not in held])
top_up = [StockChange(s, c, "on_hand", 10**9) for s in stations for c in commodities
          if (s.pk, c.pk) in held]
for start in range(0, len(top_up), 500):
    stock_apply(top_up[start:start + 500], kind="adjustment", reason="benchmark stock")
from decimal import Decimal
from credits.services import credits_open_funds
from inventory.services import operator_grant
from trades.models import Agreement
credits_open_funds(stations=stations, amount=Decimal(10**12))
user = get_user_model().objects.create_superuser("bench", password="x-bench-x-123")
# As a seller's operator trades (docs/api.md#consent): the stations of odd id sell, those of
# even id buy, and every buyer has granted every seller a standing agreement, its caps far
# below its funds (written in bulk: seeding, not what is measured).
sellers = [s for s in stations if s.pk % 2]
buyers = [s for s in stations if not s.pk % 2]
operator = get_user_model().objects.create_user("bench-seller", password="x-bench-x-123")
operator_grant(user=operator, stations=sellers)
Agreement.objects.bulk_create(
    [Agreement(buyer=b, seller=s, max_unit_price=Decimal(100), max_trade_total=Decimal(1000),
               max_outstanding=Decimal(10**8), granted_by=user) for b in buyers for s in sellers],
    batch_size=2000,
)
print(json.dumps({
    "token": AuthToken.objects.create(user=user)[1],
    "operator_token": AuthToken.objects.create(user=operator)[1],
    "stations": [s.code for s in stations],
    "sellers": [s.code for s in sellers],
    "buyers": [s.code for s in buyers],
    "commodities": [c.code for c in commodities],
}))
"""

# One trade through the API in this process, its wire traced: the statements and round trips.
TRACE = """
from rest_framework.test import APIClient
from core.diagnostics import round_trips, wire_trace
client = APIClient(SERVER_NAME="localhost")
client.credentials(HTTP_AUTHORIZATION="Token " + TOKEN)
body = {"seller": SELLER, "buyer": BUYER,
        "items": [{"commodity": "water", "quantity": 1, "unit_price": "1.00"}]}
client.post("/api/trades/", body, format="json")  # warm: first stock rows, caches
with wire_trace() as sent:
    response = client.post("/api/trades/", body, format="json")
assert response.status_code == 201, response.content
print(json.dumps({"round_trips": round_trips(sent), "sent": sent}))
"""


def find_tool(name: str, hint: str) -> str:
    found = shutil.which(name)
    if not found:
        for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
            found = str(candidate)
            break
    if not found:
        sys.exit(f"{name} is needed for this benchmark and was not found: {hint}")
    return found


# The outbox's statement in the trade's SQL, its first words matched loosely: tests/test_inserts.py
# holds every literal naming an INSERT against its model, and this one is a pattern.
OUTBOX_INSERT = re.compile(r"^(\w+ \w+ tradenet_outbox \(type, data\) VALUES .*);$", re.MULTILINE)


def with_notify(sql: str) -> str:
    """The trade's SQL with the outbox's INSERT as it was before issue 40: one statement that
    also notifies the relay, inside the trade's transaction."""
    changed, found = OUTBOX_INSERT.subn(
        r"WITH written AS (\1 RETURNING 1) SELECT pg_notify('tradenet_outbox', '');", sql
    )
    assert found == 1, "the outbox's INSERT is not where with_notify looks for it"
    return changed


def run_pgbench(
    db: dict,
    clients: int,
    seconds: int,
    stations: int,
    commodities: int,
    *,
    dbname: str = BENCH_DB,
    prefix: tuple[str, ...] = (),
    agreements: bool = False,
    notify: bool = False,
) -> dict:
    """pgbench on the trade's SQL; `prefix` runs it elsewhere (the cluster: in a namespace).
    With `agreements`, a seller (odd id) trades with a buyer (even id) inside its agreement: the
    SQL adds the agreement's lookup and its cap (bench/trade_pgbench_agreement.sql). With
    `notify`, the outbox's INSERT ends as it did before issue 40, with a NOTIFY in the trade's
    transaction (`with_notify`), to show what that cost."""
    pgbench = find_tool("pgbench", "apt-get install postgresql-client")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        name = "trade_pgbench_agreement.sql" if agreements else "trade_pgbench.sql"
        sql = (HERE / name).read_text()
        sql = with_notify(sql) if notify else sql
        script.write(sql.format(stations=stations, commodities=commodities))
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
    cmd = [*prefix, pgbench, "-h", db["HOST"] or "127.0.0.1", "-U", db["USER"], "-n",
           "-M", "simple", "-c", str(clients), "-j", "2", "-T", str(seconds), "-f", script.name,
           dbname]  # fmt: skip
    if db.get("PORT"):
        cmd[len(prefix) + 1 : len(prefix) + 1] = ["-p", str(db["PORT"])]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    os.unlink(script.name)
    if done.returncode != 0:
        sys.exit(f"pgbench failed:\n{done.stderr[-3000:]}")
    tps = float(re.search(r"tps = ([\d.]+)", done.stdout).group(1))
    latency = float(re.search(r"latency average = ([\d.]+) ms", done.stdout).group(1))
    failed = int(re.search(r"number of failed transactions: (\d+)", done.stdout).group(1))
    transactions = int(re.search(r"number of transactions actually processed: (\d+)",
                                 done.stdout).group(1))  # fmt: skip
    return {"rate": tps, "latency_avg_ms": latency, "failed": failed, "count": transactions}


def parse_duration_ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def run_wrk(
    base_url: str, script: str, clients: int, seconds: int, *, prefix: tuple[str, ...] = ()
) -> dict:
    """wrk POSTing trades; `prefix` runs it elsewhere (the cluster: in the client namespace)."""
    wrk = find_tool("wrk", "apt-get install wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    cmd = [*prefix, wrk, "-t", "2", "-c", str(clients), "-d", f"{seconds}s", "--timeout", "10s",
           "--latency", "-s", lua.name, base_url]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    os.unlink(lua.name)
    out = done.stdout
    if done.returncode != 0 or "Requests/sec" not in out:
        sys.exit(f"wrk failed:\n{out}\n{done.stderr}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    elapsed = re.search(r"requests in ([\d.]+\w+),", out).group(1)
    seconds_run = parse_duration_ms(elapsed) / 1000
    non_2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = sum(int(x) for x in socket.groups()) if socket else 0
    p50 = parse_duration_ms(re.search(r"\s50%\s+([\d.]+\w+)", out).group(1))
    p99 = parse_duration_ms(re.search(r"\s99%\s+([\d.]+\w+)", out).group(1))
    return {
        "rate": (requests - non_2xx) / seconds_run,
        "answered": requests - non_2xx,
        "requests": requests,
        "errors": non_2xx + socket_errors,
        "p50_ms": p50,
        "p99_ms": p99,
    }


def start_streams(base_url: str, token: str, clients: int, stations: list[str]):
    """The SSE clients, in a process of their own; returns it once all are connected."""
    args = [sys.executable, str(HERE / "_sse_clients.py"), base_url, token, str(clients),
            ",".join(stations)]  # fmt: skip
    process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if not line.startswith("connected"):
        process.kill()
        sys.exit(f"the SSE clients did not connect: {line}")
    return process


def a_worker(server: int) -> int:
    """The server's busiest worker process so far (uvicorn's supervisor forks them): wrk's
    connections, made once, may leave a worker with none of them."""
    workers = [pid for pid in process_tree(server) if pid != server and is_worker(pid)]
    if not workers:
        return server  # one process serves (WEB_CONCURRENCY=1)
    return max(workers, key=lambda pid: cpu_seconds([pid]))


def is_worker(pid: int) -> bool:
    """A process uvicorn spawned to serve (not multiprocessing's resource tracker)."""
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def stop_streams(process) -> dict:
    out, _ = process.communicate("stop\n", timeout=120)
    return json.loads(out.strip().splitlines()[-1])


def check_streams(db: dict, got: dict, since: float) -> dict:
    """Every client must have seen every trade of its station committed while it listened."""
    with admin_connection(db, BENCH_DB) as conn:
        rows = conn.execute(
            "SELECT s.code, t.transaction_id FROM trades_trade t "
            "JOIN inventory_station s ON s.id IN (t.seller_id, t.buyer_id) "
            "WHERE t.created_at >= to_timestamp(%s)",
            [since],
        ).fetchall()
    counted = stream_completeness(rows, [got])
    return {
        "clients": got["clients"],
        "received": got["received"],
        **counted,
        "p50_ms": got["p50_ms"],
        "p99_ms": got["p99_ms"],
        "dropped": got["dropped"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=16, help="HTTP clients (and pgbench's)")
    parser.add_argument("--seconds", type=int, default=20, help="length of each run")
    parser.add_argument("--streams", type=int, default=2000, help="SSE clients in the last run")
    parser.add_argument(
        "--workers", type=int, default=None, help="WEB_CONCURRENCY (default: start.sh's)"
    )
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--consent",
        choices=("agreement", "dispatch"),
        default="agreement",
        help="who places the trades: a seller's operator inside the buyer's standing agreement "
        "(default), or dispatch staff for both sides (as before consent)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample one worker with py-spy during the API run and print where its time went",
    )
    args = parser.parse_args()

    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.streams * 2 + 512)), hard))

    db = base_database()
    log(f"scratch database {BENCH_DB} on {db['HOST'] or '127.0.0.1'}")
    recreate_database(db, BENCH_DB)
    env = production_env(db, BENCH_DB)
    results: dict = {}
    server = watch = None
    try:
        manage(env, "migrate", "--noinput", "-v0")
        seeded = shell(env, SEED)
        stations, commodities = seeded["stations"], seeded["commodities"]
        if args.consent == "agreement":
            # A seller's operator, each trade inside the buyer's agreement.
            token, sellers, buyers = seeded["operator_token"], seeded["sellers"], seeded["buyers"]
        else:  # dispatch staff, for both sides (the benchmark before consent)
            token, sellers, buyers = seeded["token"], stations, stations
        log(f"seeded {len(stations)} stations, {len(commodities)} commodities, ample stock")
        log(f"trades placed by {args.consent}: {len(sellers)} sellers, {len(buyers)} buyers")
        traced = shell(
            env,
            f"TOKEN, SELLER, BUYER = {token!r}, {sellers[0]!r}, {buyers[-1]!r}\n" + TRACE,
        )
        results["round_trips"] = traced["round_trips"]
        log(f"one trade through the API: {traced['round_trips']} round trips to PostgreSQL")

        with admin_connection(db, BENCH_DB) as conn:
            conn.execute("DELETE FROM tradenet_outbox")  # seeding's events: not part of the runs
            conn.execute("VACUUM ANALYZE")
        postgres = postmaster_pid(db, BENCH_DB)
        tiers = {"postgres": [postgres]} if postgres else {}  # elsewhere: not measured
        log(f"pgbench: {args.clients} clients, {args.seconds} s, the trade's SQL")
        with CpuWatch(tiers) as cpu:
            results["pgbench"] = run_pgbench(
                db,
                args.clients,
                args.seconds,
                len(stations),
                len(commodities),
                agreements=args.consent == "agreement",
            )
        results["pgbench"]["cpu"] = cpu.used
        with admin_connection(db, BENCH_DB) as conn:
            conn.execute("DELETE FROM tradenet_outbox")  # pgbench's rows are not events

        # The exports run as in production: the RabbitMQ feed (when a broker answers here) and
        # a webhook endpoint of the dispatch staff user, i.e. every event, to a local receiver.
        exchange = f"tradenet.bench.{os.getpid()}" if rabbitmq_answers() else None
        watch = ExportWatch(exchange)
        if exchange:
            env = {**env, "TRADENET_AMQP_URL": RABBITMQ, "TRADENET_AMQP_EXCHANGE": exchange}
        env = {**env, "TRADENET_WEBHOOK_ALLOW_PRIVATE": "1"}
        shell(env, WEBHOOK.format(url=watch.webhook_url))

        port = args.port
        base_url = f"http://127.0.0.1:{port}"
        server = start_server(env, port, args.workers)
        lua = (
            (HERE / "trade_wrk.lua")
            .read_text()
            .format(
                sellers="{" + ", ".join(json.dumps(s) for s in sellers) + "}",
                buyers="{" + ", ".join(json.dumps(s) for s in buyers) + "}",
                commodities="{" + ", ".join(json.dumps(c) for c in commodities) + "}",
                token=token,
            )
        )
        run_wrk(base_url, lua, args.clients, 3)  # warm-up
        log(f"API: wrk, {args.clients} clients, {args.seconds} s")
        tiers["server"] = [server.pid]  # deploy/start.sh execs the server: its whole tree
        # Its workers (the views, the relay, the streams) apart from the main process (uvicorn's
        # supervisor and the exporters: the RabbitMQ feed and the webhooks).
        tiers["workers"] = [pid for pid in process_tree(server.pid) if pid != server.pid]
        started = time.time()
        profile = None
        if args.profile:
            profile = WorkerProfile(a_worker(server.pid), max(5, args.seconds - 4))
            profile.start()
        with CpuWatch(tiers) as cpu:
            results["api"] = run_wrk(base_url, lua, args.clients, args.seconds)
            ended = time.time()
            # The run's trades cost what their exports cost too: the CPU is read once the feed
            # and the webhooks have carried every event of the run, not when wrk stops.
            results["api"]["drain_s"] = wait_for_exports(db)
        results["api"]["cpu"] = cpu.used
        if profile is not None:
            results["profile"] = (profile.pid, *profile.top())
        time.sleep(1)  # the last exports arrive at the receivers
        watch.collect()
        results["exports"] = exports_report(db, watch, started, ended)

        if args.streams:
            log(f"connecting {args.streams} SSE clients")
            # Dispatch staff watch every station (an operator would see only its own).
            streams = start_streams(base_url, seeded["token"], args.streams, stations)
            connected_at = time.time()
            log(f"API with {args.streams} streams open: wrk, {args.clients} clients")
            with CpuWatch(tiers) as cpu:
                results["api_streams"] = run_wrk(base_url, lua, args.clients, args.seconds)
                results["api_streams"]["drain_s"] = wait_for_exports(db)
            results["api_streams"]["cpu"] = cpu.used
            time.sleep(3)  # the last events reach the clients
            results["streams"] = check_streams(db, stop_streams(streams), connected_at)
    finally:
        if watch is not None:
            watch.close()
        if server is not None:
            stop_server(server)
        if not args.keep:
            drop_database(db, BENCH_DB)

    report(results, args)
    return 0


DRAINED = """
SELECT NOT EXISTS (SELECT 1 FROM tradenet_outbox)
   AND NOT EXISTS (SELECT 1 FROM updates_webhookdelivery WHERE state = 'pending')
   AND coalesce((SELECT min(last_id) FROM updates_exportposition), 0)
       >= coalesce((SELECT max(eid) FROM django_eventstream_event), 0)
"""


def wait_for_exports(db: dict, limit: float = 120) -> float:
    """Seconds until the outbox is empty, every exporter has confirmed the last event and no
    webhook delivery is pending (at most `limit`)."""
    started = time.monotonic()
    with admin_connection(db, BENCH_DB) as conn:
        while time.monotonic() - started < limit:
            if conn.execute(DRAINED).fetchone()[0]:
                break
            time.sleep(0.2)
    return time.monotonic() - started


WEBHOOK = """
from django.contrib.auth import get_user_model
from updates.integrations.webhooks.services import endpoint_create
endpoint_create(owner=get_user_model().objects.get(username="bench"), url={url!r},
                event_types=[], stations=[])
print(json.dumps({{}}))
"""


def exports_report(db: dict, watch: ExportWatch, start: float, end: float) -> dict:
    """For each export: events committed during the run, how many arrived, and their lag."""
    with admin_connection(db, BENCH_DB) as conn:
        expected = conn.execute(
            "SELECT count(*) FROM django_eventstream_event WHERE eid > 0 "
            "AND (data::json #>> '{}')::json ->> 'published_at' BETWEEN %s AND %s",
            [
                datetime.fromtimestamp(start, UTC).isoformat(),
                datetime.fromtimestamp(end, UTC).isoformat(),
            ],
        ).fetchone()[0]
    report = {}
    for name, lags in watch.between(start, end).items():
        if name == "amqp" and not watch._consumer:
            continue
        log(f"{name}: {len(watch.lags[name])} events received in all")
        report[name] = {
            "expected": expected,
            "received": len(lags),
            "p50_ms": percentile(lags, 50) * 1000,
            "p99_ms": percentile(lags, 99) * 1000,
        }
    return report


def cpu_per_trade(run: dict, tier: str, trades: int) -> str:
    """CPU milliseconds per trade of a tier, as printed ("-" where it was not measured)."""
    ms = cpu_ms_per(run, tier, trades)
    return "-" if math.isnan(ms) else f"{ms:.1f}ms"


def report(results: dict, args) -> None:
    ceiling = results["pgbench"]
    lines = [
        "",
        f"Trades, {args.clients} clients, {args.seconds} s each, one-line trades between random "
        "stations",
        f"  {'':34} {'trades/s':>9} {'of ceiling':>10} {'p50':>8} {'p99':>8} {'errors':>7}"
        f" {'server CPU':>10} {'PG CPU':>7}   (per trade)",
        f"  {'pgbench, the same SQL (ceiling)':34} {ceiling['rate']:9.0f} {'100%':>10} "
        f"{'':>8} {'':>8} {ceiling['failed']:7d} {'':>10} "
        f"{cpu_per_trade(ceiling, 'postgres', ceiling['count']):>7}"
        f"   (avg {ceiling['latency_avg_ms']:.1f} ms)",
    ]
    for key, label in (("api", "POST /api/trades/"), ("api_streams", "  with SSE clients open")):
        if key in results:
            run = results[key]
            lines.append(
                f"  {label:34} {run['rate']:9.0f} {run['rate'] / ceiling['rate']:10.1%} "
                f"{run['p50_ms']:6.1f}ms {run['p99_ms']:6.1f}ms {run['errors']:7d} "
                f"{cpu_per_trade(run, 'server', run['answered']):>10} "
                f"{cpu_per_trade(run, 'postgres', run['answered']):>7}"
            )
    if "api" in results and "workers" in results["api"].get("cpu", {}):
        run = results["api"]
        workers = cpu_ms_per(run, "workers", run["answered"])
        main = cpu_ms_per(run, "server", run["answered"]) - workers
        pg_ratio = cpu_ms_per(run, "postgres", run["answered"]) / cpu_ms_per(
            ceiling, "postgres", ceiling["count"]
        )
        lines.append(
            f"  server CPU per trade: workers (views, relay, streams) {workers:.1f} ms, main "
            f"process (exporters: feed, webhooks) {main:.1f} ms; PostgreSQL {pg_ratio:.1f}x what "
            "the bare SQL costs it"
        )
    drains = ", ".join(
        f"{results[key]['drain_s']:.1f} s" for key in ("api", "api_streams") if key in results
    )
    lines.append(
        "  CPU read once the exports had carried every event of the run: "
        f"{drains} after wrk stopped"
    )
    lines.append(f"  round trips to PostgreSQL per trade: {results['round_trips']}")
    for name, e in results.get("exports", {}).items():
        lines.append(
            f"  export {name:8}: {e['received']} of {e['expected']} events of the API run, "
            f"commit -> received p50 {e['p50_ms']:.0f} ms, p99 {e['p99_ms']:.0f} ms"
        )
    if "streams" in results:
        s = results["streams"]
        lines.append(
            f"  {s['clients']} SSE clients: {s['received']} trade.initiated received of "
            f"{s['expected']} expected ({s['missing']} missing), commit -> client "
            f"p50 {s['p50_ms']:.0f} ms, p99 {s['p99_ms']:.0f} ms, {s['dropped']} streams dropped"
        )
    print("\n".join(lines))
    if "profile" in results:
        print_profile(*results["profile"][1:], results["profile"][0])


if __name__ == "__main__":
    sys.exit(main())
