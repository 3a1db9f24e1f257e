"""Lists at a million trades: every documented filter and ordering, at 10k and at 1M trades.

    .venv/bin/python bench/list_scaling.py            # 10,000 and 1,000,000 trades
    .venv/bin/python bench/list_scaling.py --large 200000 --repeat 3   # quicker

For each size it builds a scratch database on the project's PostgreSQL (DATABASE_URL, or the
embedded one): the demo galaxy plus 200 generated stations (214), 10 commodities, then N trades
of one line each with their shipment and their ledger rows, written by SQL in bulk (statuses
drawn at random over a year of history, so filters meet their rows scattered, not bunched at
the recent end), for each of three data sets (`--data`): statuses and commodities independent;
correlated (water never initiated or in transit, ceres-prime never in a failed trade, so
combinations of common filters match nothing); a third of the trades in transit, nearly all
overdue. Then the production start script (`deploy/start.sh`, 2 workers) serves it and
every request of the table is made as dispatch staff (and the lists once as a station's
operator, whose lists are scoped to their station): one warm-up, then the median of --repeat.

The figure that matters is the ratio: the time at the large size over the time at the small
one, both measured in this run. A list whose queries walk an index and stop after a page is
flat; one that reads every matching row to sort them grows with the table.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

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

CEILING = 1.5  # the ratio a list may grow by from the small to the large size
SLACK_MS = 10.0  # and the milliseconds it may grow by, whatever its ratio

USERS = """
from django.contrib.auth import get_user_model
from knox.models import AuthToken
from inventory.models import Station
from inventory.services import operator_grant
User = get_user_model()
staff = User.objects.create_superuser("bench", password="x-bench-x-123")
station = Station.objects.get(code="ceres-prime")
operator = User.objects.create_user("ceres-op", password="x-bench-x-123", is_staff=True)
operator_grant(user=operator, stations=[station])
print(json.dumps({"staff": AuthToken.objects.create(user=staff)[1],
                  "operator": AuthToken.objects.create(user=operator)[1]}))
"""

SIGN_IN = """
from django.contrib.auth import get_user_model
from knox.models import AuthToken
User = get_user_model()
print(json.dumps({who: AuthToken.objects.create(user=User.objects.get(username=name))[1]
                  for who, name in (("staff", "bench"), ("operator", "ceres-op"))}))
"""


def exists(db: dict, name: str) -> bool:
    with admin_connection(db) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    return found is not None


# How each data set draws a trade's status, commodity and shipment ETA (r, r2: uniform draws;
# base: the status by the default shares; water, ceres: whether the trade's commodity is water
# and whether ceres-prime is a party). Every set spreads its statuses over the whole year.
SHAPES = {
    # Statuses and commodities independent of each other: every combination has its rows. Long
    # hauls: a shipment in transit is due from 5 days ago to 25 days ahead.
    "scattered": {
        "status": "base",
        "water": "true",
        "eta": "CASE WHEN status = 'in_transit' THEN now() + (r2 * 30 - 5) * interval '1 day' "
        "ELSE at + (1 + r2 * 29) * interval '1 day' END",
    },
    # Correlated: water is never initiated or in transit, ceres-prime never in a failed trade.
    # Combinations that match nothing, made of filters that each match a tenth of the table.
    "correlated": {
        "status": "CASE WHEN base = 'failed' AND ceres THEN 'cancelled' ELSE base END",
        "water": "status NOT IN ('initiated', 'in_transit')",
        "eta": "CASE WHEN status = 'in_transit' THEN now() + (r2 * 30 - 5) * interval '1 day' "
        "ELSE at + (1 + r2 * 29) * interval '1 day' END",
    },
    # Overdue: a third of the trades in transit, since any day of the year, each due 1 to 4
    # days after it was placed, so nearly every shipment in transit is overdue.
    "overdue": {
        "status": "CASE WHEN r < 0.33 THEN 'in_transit' WHEN r < 0.90 THEN 'completed' "
        "WHEN r < 0.95 THEN 'initiated' ELSE 'cancelled' END",
        "water": "true",
        "eta": "at + (1 + r2 * 3) * interval '1 day'",
    },
}


def generate(shape: str) -> list[str]:
    """One line, one shipment and the ledger rows of each trade, by SQL in bulk. Deterministic
    (setseed) so both sizes draw from the same distributions."""
    rules = SHAPES[shape]
    return [
        "SELECT setseed(0.42)",
        """CREATE TEMP TABLE st AS
           SELECT (row_number() OVER (ORDER BY id))::int - 1 AS i, id, code
           FROM inventory_station""",
        """CREATE TEMP TABLE co AS
           SELECT (row_number() OVER (ORDER BY id))::int - 1 AS i, id, code
           FROM inventory_commodity""",
        """CREATE TEMP TABLE draw AS
           SELECT g,
                  floor(random() * (SELECT count(*) FROM st))::int AS a,
                  floor(random() * ((SELECT count(*) FROM st) - 1))::int AS b,
                  floor(random() * (SELECT count(*) FROM co))::int AS c,
                  1 + floor(random() * 100)::int AS quantity,
                  random() AS r, random() AS r2,
                  now() - (%(n)s - g) * (interval '365 days' / %(n)s) AS at
           FROM generate_series(1, %(n)s) AS g""",
        """CREATE TEMP TABLE parties AS
           SELECT d.*, s.id AS seller, b.id AS buyer,
                  'ceres-prime' IN (s.code, b.code) AS ceres,
                  CASE WHEN d.r < 0.80 THEN 'completed' WHEN d.r < 0.88 THEN 'in_transit'
                       WHEN d.r < 0.93 THEN 'initiated' WHEN d.r < 0.98 THEN 'cancelled'
                       ELSE 'failed' END AS base
           FROM draw d
           JOIN st s ON s.i = d.a
           JOIN st b ON b.i = (d.a + 1 + d.b) %% (SELECT count(*) FROM st)""",
        f"""CREATE TEMP TABLE statused AS
           SELECT p.*, {rules["status"]} AS status FROM parties p""",
        # A trade whose rule forbids water carries the next commodity instead.
        f"""CREATE TEMP TABLE plan AS
           SELECT p.*, {rules["eta"]} AS eta,
                  CASE WHEN c.code = 'water' AND NOT ({rules["water"]})
                       THEN (SELECT id FROM co WHERE i = (c.i + 1) %% (SELECT count(*) FROM co))
                       ELSE c.id END AS commodity
           FROM statused p JOIN co c ON c.i = p.c""",
        """INSERT INTO trades_trade
             (transaction_id, seller_id, buyer_id, status, terms, placed_at, created_at,
              updated_at)
           SELECT 'txn-' || lpad(to_hex(g), 16, '0'), seller, buyer, status, 'seller_risk', at,
                  at, at
           FROM plan ORDER BY g""",
        """CREATE TEMP TABLE placed AS
           SELECT p.*, t.id AS trade FROM plan p
           JOIN trades_trade t ON t.transaction_id = 'txn-' || lpad(to_hex(p.g), 16, '0')""",
        """INSERT INTO trades_tradeline (trade_id, commodity_id, quantity, unit_price,
                                        trade_status)
           SELECT trade, commodity, quantity, 2.50, status FROM placed ORDER BY g""",
        """INSERT INTO cargo_cargo
             (shipment_id, trade_id, origin_id, destination_id, status, eta, location_note,
              departed_at, delivered_at, created_at, updated_at)
           SELECT 'shp-' || lpad(to_hex(g), 16, '0'), trade, seller, buyer,
                  CASE status WHEN 'completed' THEN 'delivered' WHEN 'in_transit' THEN 'in_transit'
                              WHEN 'initiated' THEN 'pending' WHEN 'cancelled' THEN 'cancelled'
                              ELSE 'lost' END,
                  eta,
                  CASE WHEN r2 < 0.1 THEN 'passing relay beacon ' || (g %% 997) ELSE '' END,
                  CASE WHEN status IN ('completed', 'in_transit', 'failed') THEN at END,
                  CASE WHEN status = 'completed' THEN at + interval '2 days' END,
                  at, at
           FROM placed ORDER BY g""",
        """INSERT INTO inventory_stockmovement
             (station_id, commodity_id, bucket, delta, balance_after, kind, trade_id, shipment_id,
              reason, created_at)
           SELECT x.station, p.commodity, x.bucket, x.delta, 1000000, x.kind, p.trade, c.id,
                  x.reason, p.at + x.later
           FROM placed p
           JOIN cargo_cargo c ON c.trade_id = p.trade
           CROSS JOIN LATERAL (VALUES
               (p.seller, 'on_hand', -p.quantity, 'dispatch', '', interval '0'),
               (p.buyer, 'incoming', p.quantity, 'dispatch', '', interval '0')
           ) AS x(station, bucket, delta, kind, reason, later)
           UNION ALL
           SELECT x.station, p.commodity, x.bucket, x.delta, 1000000, x.kind, p.trade, c.id, '',
                  p.at + interval '2 days'
           FROM placed p
           JOIN cargo_cargo c ON c.trade_id = p.trade
           CROSS JOIN LATERAL (VALUES
               (p.buyer, 'incoming', -p.quantity, 'arrival'),
               (p.buyer, 'on_hand', p.quantity, 'arrival')
           ) AS x(station, bucket, delta, kind)
           WHERE p.status = 'completed'
           UNION ALL
           SELECT p.seller, p.commodity, 'on_hand', 5, 1000000, 'adjustment', NULL, NULL,
                  'recount after audit ' || p.g, p.at
           FROM placed p WHERE p.g %% 100 = 0""",
    ]


def per_size(built: dict, template: str):
    """The path for each size: the same station; the transaction, shipment and day from the
    middle of that size's history."""

    def path(size: int) -> str:
        txn, shipment, day = built[size]["middle"]
        return template.format(
            station="ceres-prime",
            txn=txn,
            shipment=shipment,
            window=window(day, size, trades=1_000),
            wide_window=window(day, size, trades=10_000),
            ledger="/api/inventory/ceres-prime/movements/",
        )

    return path


def window(end: datetime, size: int, trades: int) -> str:
    """created_after/before around the span that holds `trades` trades at this size (history
    is a year, evenly filled), so both sizes' windows hold as many."""
    span = timedelta(days=365) * min(1.0, trades / size)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return f"created_after={(end - span):{fmt}}&created_before={end:{fmt}}"


def requests_to_make() -> list[tuple]:
    """(label, path template, who): every documented filter and ordering, alone and combined."""
    station, txn, shipment = "{station}", "{txn}", "{shipment}"
    window, wide, ledger = "{window}", "{wide_window}", "{ledger}"
    return [
        ("trades", "/api/trades/", "staff"),
        ("trades ?seller=", f"/api/trades/?seller={station}", "staff"),
        ("trades ?buyer=", f"/api/trades/?buyer={station}", "staff"),
        ("trades ?station=", f"/api/trades/?station={station}", "staff"),
        ("trades ?status=in_transit", "/api/trades/?status=in_transit", "staff"),
        ("trades ?status=initiated&status=in_transit",
         "/api/trades/?status=initiated&status=in_transit", "staff"),
        ("trades ?status=failed", "/api/trades/?status=failed", "staff"),
        ("trades ?commodity=water", "/api/trades/?commodity=water", "staff"),
        ("trades ?status=in_transit&commodity=water",
         "/api/trades/?status=in_transit&commodity=water", "staff"),
        ("trades ?status=initiated&status=in_transit&commodity=water",
         "/api/trades/?status=initiated&status=in_transit&commodity=water", "staff"),
        ("trades ?station=&status=failed", f"/api/trades/?station={station}&status=failed",
         "staff"),
        ("trades ?seller=&commodity=water", f"/api/trades/?seller={station}&commodity=water",
         "staff"),
        ("trades ?created_after=&created_before=", f"/api/trades/?{window}", "staff"),
        ("trades ?commodity=&created_after=&created_before=",
         f"/api/trades/?commodity=water&{window}", "staff"),
        ("trades ?station=&status=&commodity=&created_",
         f"/api/trades/?station={station}&status=completed&commodity=water&{wide}", "staff"),
        ("trades ?search=<transaction id>", f"/api/trades/?search={txn}", "staff"),
        ("trades ?search=<station code>", f"/api/trades/?search={station}", "staff"),
        ("trades ?ordering=created_at", "/api/trades/?ordering=created_at", "staff"),
        ("trades as the station's operator", "/api/trades/", "operator"),
        ("trades as operator ?status=in_transit", "/api/trades/?status=in_transit", "operator"),
        ("trades as operator ?status=failed", "/api/trades/?status=failed", "operator"),
        ("trades as operator ?commodity=water", "/api/trades/?commodity=water", "operator"),
        ("cargo", "/api/cargo/", "staff"),
        ("cargo ?status=in_transit", "/api/cargo/?status=in_transit", "staff"),
        ("cargo ?origin=", f"/api/cargo/?origin={station}", "staff"),
        ("cargo ?destination=", f"/api/cargo/?destination={station}", "staff"),
        ("cargo ?station=", f"/api/cargo/?station={station}", "staff"),
        ("cargo ?overdue=true", "/api/cargo/?overdue=true", "staff"),
        ("cargo ?overdue=false", "/api/cargo/?overdue=false", "staff"),
        ("cargo ?status=in_transit&overdue=false", "/api/cargo/?status=in_transit&overdue=false",
         "staff"),
        ("cargo ?station=&overdue=true", f"/api/cargo/?station={station}&overdue=true", "staff"),
        ("cargo ?station=&status=lost", f"/api/cargo/?station={station}&status=lost", "staff"),
        ("cargo ?station=&status=in_transit&overdue=true",
         f"/api/cargo/?station={station}&status=in_transit&overdue=true", "staff"),
        ("cargo ?ordering=eta", "/api/cargo/?ordering=eta", "staff"),
        ("cargo ?ordering=-eta", "/api/cargo/?ordering=-eta", "staff"),
        ("cargo ?ordering=created_at", "/api/cargo/?ordering=created_at", "staff"),
        ("cargo ?search=<shipment id>", f"/api/cargo/?search={shipment}", "staff"),
        ("cargo ?search=<transaction id>", f"/api/cargo/?search={txn}", "staff"),
        ("cargo ?search=<location note>", "/api/cargo/?search=beacon%20996", "staff"),
        ("cargo as the station's operator", "/api/cargo/", "operator"),
        ("cargo as operator ?overdue=true", "/api/cargo/?overdue=true", "operator"),
        ("cargo as operator ?status=lost", "/api/cargo/?status=lost", "operator"),
        ("ledger", ledger, "staff"),
        ("ledger ?commodity=", f"{ledger}?commodity=water", "staff"),
        ("ledger ?kind=arrival", f"{ledger}?kind=arrival", "staff"),
        ("ledger ?kind=adjustment", f"{ledger}?kind=adjustment", "staff"),
        ("ledger ?bucket=incoming", f"{ledger}?bucket=incoming", "staff"),
        ("ledger ?kind=adjustment&bucket=incoming", f"{ledger}?kind=adjustment&bucket=incoming",
         "staff"),
        ("ledger ?commodity=&kind=arrival", f"{ledger}?commodity=water&kind=arrival", "staff"),
        ("ledger ?created_after=&created_before=", f"{ledger}?{window}", "staff"),
        ("ledger ?commodity=&kind=&bucket=&created_",
         f"{ledger}?commodity=water&kind=dispatch&bucket=on_hand&{wide}", "staff"),
        ("ledger ?search=<reason>", f"{ledger}?search=audit", "staff"),
        ("ledger ?ordering=created_at", f"{ledger}?ordering=created_at", "staff"),
        ("ledger as the station's operator", ledger, "operator"),
    ]  # fmt: skip


def build(db: dict, name: str, trades: int, shape: str, reuse: bool) -> dict:
    env = production_env(db, name)
    if reuse and exists(db, name):
        log(f"{name}: reused (migrations applied, users signed in anew)")
        manage(env, "migrate", "--noinput", "-v0")
        tokens = shell(env, SIGN_IN)
    else:
        recreate_database(db, name)
        manage(env, "migrate", "--noinput", "-v0")
        manage(env, "seed_stations", "--count", "200", "--seed", "7", "--no-progress")
        tokens = shell(env, USERS)
    started = time.monotonic()
    with admin_connection(db, name) as conn:
        if not conn.execute("SELECT EXISTS (SELECT 1 FROM trades_trade)").fetchone()[0]:
            with conn.transaction():
                for statement in generate(shape):
                    conn.execute(statement, {"n": trades})
            conn.execute("VACUUM ANALYZE")
        rows = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("trades_trade", "cargo_cargo", "inventory_stockmovement")
        }
        middle = conn.execute(
            "SELECT t.transaction_id, c.shipment_id, t.created_at FROM trades_trade t "
            "JOIN cargo_cargo c ON c.trade_id = t.id ORDER BY t.id OFFSET %s LIMIT 1",
            [trades // 2],
        ).fetchone()
    log(f"{name}: {rows} in {time.monotonic() - started:.0f} s")
    return {"env": env, "tokens": tokens, "rows": rows, "middle": middle}


PAGE = 50  # the API's default page


def get(client, path: str) -> int:
    """GET a list; the number of rows in its page."""
    answer = client.get(path, timeout=60)
    if answer.status_code != 200:
        raise SystemExit(f"{path} answered {answer.status_code}: {answer.text[:500]}")
    return len(answer.json()["results"])


def measure(servers: dict, requests: list[tuple], repeat: int) -> dict:
    """Per request and size: (median ms, rows in the page). The sizes take turns request by
    request, so that the machine's drift during the run falls on both alike."""
    import httpx

    clients = {
        (size, who): httpx.Client(base_url=url, headers={"Authorization": f"Token {token}"})
        for size, (url, tokens) in servers.items()
        for who, token in tokens.items()
    }
    timings: dict = {size: {} for size in servers}
    smallest = min(servers)
    for label, template, who in requests:
        # Where the small database has less than a page, both ask for that many rows
        # (?page_size=), so that the ratio compares the same work on a bigger table; where no
        # size has any, both ask for the default page, as a client would (an empty answer is
        # the same at any page size; docs/performance.md says what ?page_size=1 costs then).
        found = get(clients[smallest, who], template(smallest))
        none_anywhere = found == 0 and all(
            get(clients[size, who], template(size)) == 0 for size in servers
        )
        page = PAGE if found >= PAGE or none_anywhere else max(found, 1)

        def path(size, template=template, page=page):
            return f"{template(size)}{'&' if '?' in template(size) else '?'}page_size={page}"

        rows, spent = {}, {size: [] for size in servers}
        for size in servers:
            rows[size] = get(clients[size, who], path(size))  # warm-up: plans, caches
        for _ in range(repeat):
            for size in servers:
                started = time.perf_counter()
                clients[size, who].get(path(size), timeout=60).raise_for_status()
                spent[size].append((time.perf_counter() - started) * 1000)
        for size in servers:
            timings[size][label] = (statistics.median(spent[size]), rows[size])
    for client in clients.values():
        client.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10_000, help="trades in the small database")
    parser.add_argument("--large", type=int, default=1_000_000, help="trades in the large one")
    parser.add_argument("--repeat", type=int, default=5, help="requests per row (median)")
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument(
        "--data",
        default=",".join(SHAPES),
        help=f"data sets, comma-separated (default: all of {', '.join(SHAPES)})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    parser.add_argument(
        "--reuse", action="store_true", help="use scratch databases kept by --keep (and keep them)"
    )
    args = parser.parse_args()

    shapes = args.data.split(",")
    unknown = sorted(set(shapes) - set(SHAPES))
    if unknown:
        parser.error(f"--data: no data set {', '.join(unknown)} (there are {', '.join(SHAPES)})")
    db = base_database()
    worst = {}
    for shape in shapes:
        worst[shape] = run_data_set(db, shape, args)
    print(f"\nWorst per data set (ceilings {CEILING}x and {SLACK_MS:.0f} ms slower):")
    for shape, (ratio, slower) in worst.items():
        within = ratio <= CEILING and slower <= SLACK_MS
        print(f"  {shape:12} {ratio:.2f}x  {slower:5.1f} ms  {'within' if within else 'OVER'}")
    print(f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


def run_data_set(db: dict, shape: str, args) -> tuple[float, float]:
    """Builds, serves and measures both sizes of one data set; prints its table; the worst
    ratio and the most milliseconds a request grew by."""
    results, built = {}, {}
    names = {size: f"tradenet_bench_lists_{shape}_{size}" for size in (args.small, args.large)}
    try:
        for size, name in names.items():
            log(f"building {name}: {size:,} trades ({shape}) with lines, shipments and ledger")
            built[size] = build(db, name, size, shape, args.reuse)
        # Both served at once (deploy/start.sh, production settings), measured in turns.
        servers, processes = {}, []
        try:
            for offset, (size, made) in enumerate(built.items()):
                port = args.port + offset
                processes.append(start_server(made["env"], port, workers=2))
                servers[size] = (f"http://127.0.0.1:{port}", made["tokens"])
            requests = [
                (label, per_size(built, template), who)
                for label, template, who in requests_to_make()
            ]
            log(f"measuring {len(requests)} requests, {args.repeat} times each, sizes in turns")
            results = measure(servers, requests, args.repeat)
        finally:
            for process in processes:
                stop_server(process)
    finally:
        if not (args.keep or args.reuse):
            for size in built:
                drop_database(db, names[size])

    small, large = results[args.small], results[args.large]
    print(
        f"\nData set `{shape}`: lists, median of {args.repeat} requests in ms (rows in the page; "
        "where the small database has less than a page of 50, both are asked for that many)\n"
    )
    print(f"| request | {args.small:,} trades | {args.large:,} trades | ratio | slower by |")
    print("| --- | --- | --- | --- | --- |")
    worst = slowest = 0.0
    for label in small:
        (fast, few), (slow, many) = small[label], large[label]
        ratio = slow / fast
        worst, slowest = max(worst, ratio), max(slowest, slow - fast)
        flag = "" if ratio <= CEILING and slow - fast <= SLACK_MS else " (over)"
        print(
            f"| `{label}` | {fast:.1f} ({few}) | {slow:.1f} ({many}) | {ratio:.2f}{flag} "
            f"| {slow - fast:.1f} ms |"
        )
    rows = built[args.large]["rows"]
    print(
        f"\n{args.large:,} trades: {rows['cargo_cargo']:,} shipments, "
        f"{rows['inventory_stockmovement']:,} ledger rows. Worst ratio {worst:.2f} "
        f"(ceiling {CEILING}), most slower by {slowest:.1f} ms (ceiling {SLACK_MS:.0f}): "
        f"{'within' if worst <= CEILING and slowest <= SLACK_MS else 'OVER'}"
    )
    return worst, slowest


if __name__ == "__main__":
    main()
