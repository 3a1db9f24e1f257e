#!/usr/bin/env python
"""Stock history at ten million ledger rows: `?as_of=` and `/history/` through the API.

    .venv/bin/python bench/stock_history.py              # 10,000,000 ledger rows
    .venv/bin/python bench/stock_history.py --rows 1000000 --keep   # smaller; keep the database

It builds a scratch database (`tradenet_bench_history`) on the project's PostgreSQL
(DATABASE_URL, or the embedded one): the demo galaxy plus 200 generated stations (214), 10
commodities, and --rows ledger rows spread evenly over the (station, commodity) pairs and over
a year, on hand and incoming in turn, each with the balance after it (a running sum), written by
SQL in bulk with the ledger's indexes built afterwards. Then the production start script
(`deploy/start.sh`, 2 workers) serves it, and each kind of request is made --repeat times as
dispatch staff for random stations, commodities and moments of that year: the levels as of a
moment, a week by the hour (169 points), a month by the day, a year by the day, and the most
points a request may ask for (1,000 hours).

The ceiling is the same reads without HTTP: the selector functions the views call
(`inventory.selectors.levels_as_of`, `stock_history`), timed in a Django process of their own
on the same inputs. It prints the API's median, p95 and max beside the ceiling's median, and
their ratio; the target is every request under 100 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

import httpx
from _common import (
    admin_connection,
    base_database,
    drop_database,
    log,
    manage,
    production_env,
    recreate_database,
    shell,
    start_server,
    stop_server,
)

BENCH_DB = "tradenet_bench_history"
TARGET_MS = 100

USERS = """
from django.contrib.auth import get_user_model
from knox.models import AuthToken
staff = get_user_model().objects.create_superuser("bench", password="x-bench-x-123")
print(json.dumps({"token": AuthToken.objects.create(user=staff)[1]}))
"""

# The ledger in bulk: for each (station, commodity), `per` rows a year long, the buckets in
# turn, deltas of either sign, the balance after each row its bucket's running sum (from a
# million, so never below zero). Foreign keys are not checked row by row (a scratch database;
# every id comes from the tables themselves) and the indexes are built once at the end.
GENERATE = [
    "SELECT setseed(0.42)",
    "SET session_replication_role = replica",
    """INSERT INTO inventory_stocklevel (station_id, commodity_id, on_hand, incoming, updated_at)
       SELECT s.id, c.id, 0, 0, now() FROM inventory_station s CROSS JOIN inventory_commodity c
       ON CONFLICT DO NOTHING""",
    """INSERT INTO inventory_stockmovement
         (station_id, commodity_id, bucket, delta, balance_after, kind, reason, created_at)
       SELECT station_id, commodity_id, bucket, delta,
              1000000 + sum(delta) OVER (PARTITION BY station_id, commodity_id, bucket
                                         ORDER BY g),
              'adjustment', '', at
       FROM (
         SELECT s.id AS station_id, c.id AS commodity_id, g,
                CASE WHEN g %% 2 = 0 THEN 'on_hand' ELSE 'incoming' END AS bucket,
                (CASE WHEN random() < 0.5 THEN -1 ELSE 1 END) * (1 + floor(random() * 50))::int
                  AS delta,
                now() - interval '365 days'
                  + (g + random()) * (interval '365 days' / %(per)s) AS at
         FROM inventory_station s CROSS JOIN inventory_commodity c
         CROSS JOIN generate_series(1, %(per)s) AS g
       ) rows""",
    """UPDATE inventory_stocklevel l SET on_hand = m.on_hand, incoming = m.incoming
       FROM (SELECT station_id, commodity_id,
                    max(balance_after) FILTER (WHERE bucket = 'on_hand' AND last) AS on_hand,
                    max(balance_after) FILTER (WHERE bucket = 'incoming' AND last) AS incoming
             FROM (SELECT station_id, commodity_id, bucket, balance_after,
                          row_number() OVER (PARTITION BY station_id, commodity_id, bucket
                                             ORDER BY created_at DESC, id DESC) = 1 AS last
                   FROM inventory_stockmovement) x
             GROUP BY 1, 2) m
       WHERE l.station_id = m.station_id AND l.commodity_id = m.commodity_id""",
]

# The same reads without HTTP, in a Django process: the selectors on the same inputs.
CEILING = """
import time
from datetime import datetime
from inventory.models import Commodity, Station
from inventory.selectors import levels_as_of, stock_history
cases = json.loads({cases!r})
stations = {{s.code: s for s in Station.objects.all()}}
commodities = {{c.code: c for c in Commodity.objects.all()}}
out = {{}}
for kind, items in cases.items():
    times = []
    for item in items:
        started = time.perf_counter()
        if kind == "as_of":
            levels_as_of(stations[item["station"]], datetime.fromisoformat(item["as_of"]))
        else:
            stock_history(stations[item["station"]], commodities[item["commodity"]],
                          start=datetime.fromisoformat(item["start"]),
                          end=datetime.fromisoformat(item["end"]), interval=item["interval"])
        times.append((time.perf_counter() - started) * 1000)
    out[kind] = times
print(json.dumps(out))
"""

KINDS = {
    # name: (span, interval); None: as_of
    "as_of": None,
    "week by the hour": (timedelta(days=7), "hour"),
    "month by the day": (timedelta(days=30), "day"),
    "year by the day": (timedelta(days=364), "day"),
    "1,000 hours": (timedelta(hours=999), "hour"),
}


def build(db: dict, rows: int) -> dict:
    env = production_env(db, BENCH_DB)
    recreate_database(db, BENCH_DB)
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "seed_stations", "--count", "200", "--seed", "7", "--no-progress")
    token = shell(env, USERS)["token"]
    started = time.monotonic()
    with admin_connection(db, BENCH_DB) as conn:
        pairs = conn.execute(
            "SELECT (SELECT count(*) FROM inventory_station) * "
            "(SELECT count(*) FROM inventory_commodity)"
        ).fetchone()[0]
        per = max(1, rows // pairs)
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = "
            "'inventory_stockmovement' AND indexname NOT LIKE '%%pkey'"
        ).fetchall()
        with conn.transaction():
            conn.execute("DELETE FROM inventory_stockmovement")
            for name, _ in indexes:
                conn.execute(f'DROP INDEX "{name}"')
            for statement in GENERATE:
                conn.execute(statement, {"per": per})
            log(f"ledger written ({time.monotonic() - started:.0f} s); building its indexes")
            for _, definition in indexes:
                conn.execute(definition)
        conn.execute("VACUUM ANALYZE")
        count = conn.execute("SELECT count(*) FROM inventory_stockmovement").fetchone()[0]
        stations = [r[0] for r in conn.execute("SELECT code FROM inventory_station")]
        commodities = [r[0] for r in conn.execute("SELECT code FROM inventory_commodity")]
    log(f"{count:,} ledger rows, {pairs} (station, commodity) pairs, "
        f"in {time.monotonic() - started:.0f} s")  # fmt: skip
    return {"env": env, "token": token, "rows": count, "stations": stations,
            "commodities": commodities}  # fmt: skip


def cases(built: dict, repeat: int) -> dict[str, list[dict]]:
    rng = random.Random(11)
    now = datetime.now(UTC)
    out: dict[str, list[dict]] = {}
    for kind, shape in KINDS.items():
        out[kind] = []
        for _ in range(repeat):
            station = rng.choice(built["stations"])
            if shape is None:
                moment = now - timedelta(seconds=rng.randint(0, 364 * 86400))
                out[kind].append({"station": station, "as_of": moment.isoformat()})
                continue
            span, interval = shape
            end = now - timedelta(seconds=rng.randint(0, int((timedelta(days=365) - span)
                                                             .total_seconds())))  # fmt: skip
            out[kind].append({"station": station, "commodity": rng.choice(built["commodities"]),
                              "start": (end - span).isoformat(), "end": end.isoformat(),
                              "interval": interval})  # fmt: skip
    return out


def path_of(kind: str, item: dict) -> tuple[str, dict]:
    if kind == "as_of":
        return f"/api/inventory/{item['station']}/", {"as_of": item["as_of"]}
    query = {k: item[k] for k in ("commodity", "start", "end", "interval")}
    return f"/api/inventory/{item['station']}/history/", query


def measure(base_url: str, token: str, todo: dict[str, list[dict]]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    headers = {"Authorization": f"Token {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        for kind, items in todo.items():
            path, query = path_of(kind, items[0])
            client.get(path, params=query).raise_for_status()  # warm-up
            times = []
            for item in items:
                path, query = path_of(kind, item)
                started = time.perf_counter()
                answer = client.get(path, params=query)
                times.append((time.perf_counter() - started) * 1000)
                answer.raise_for_status()
                if kind != "as_of":
                    assert answer.json()["points"], answer.json()
            out[kind] = times
    return out


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    db = base_database()
    built = build(db, args.rows)
    todo = cases(built, args.repeat)
    server = start_server(built["env"], args.port, 2)
    try:
        api = measure(f"http://127.0.0.1:{args.port}", built["token"], todo)
    finally:
        stop_server(server)
    ceiling = shell(built["env"], CEILING.format(cases=json.dumps(todo)))
    if not args.keep:
        drop_database(db, BENCH_DB)

    lines = [
        "",
        f"Stock history, {built['rows']:,} ledger rows, {args.repeat} requests of each kind "
        "(random stations, commodities and moments of a year), as dispatch staff",
        f"  {'':18} {'API p50':>8} {'p95':>8} {'max':>8} {'selector p50':>13} {'ratio':>6}",
    ]
    worst = 0.0
    for kind in KINDS:
        a, c = api[kind], ceiling[kind]
        ratio = statistics.median(a) / statistics.median(c)
        worst = max(worst, max(a))
        lines.append(
            f"  {kind:18} {statistics.median(a):6.1f}ms {p95(a):6.1f}ms {max(a):6.1f}ms "
            f"{statistics.median(c):11.1f}ms {ratio:6.2f}"
        )
    verdict = "every request" if worst < TARGET_MS else "NOT every request"
    lines.append(f"  {verdict} under {TARGET_MS} ms (slowest {worst:.1f} ms)")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
