#!/usr/bin/env python
"""SSE fan-out benchmark: N clients on one server process, trades committed through the API.

    .venv/bin/python bench/sse_fanout.py --clients 2000 --trades 5

It creates a scratch database (`tradenet_bench`) on the project's PostgreSQL (DATABASE_URL, or
the embedded one), starts one uvicorn process on it, connects the clients (plain asyncio
sockets, signed in with a token), then posts trades one at a time and measures, for every
client, the delay from the commit (the event's `published_at`) to the moment the client read
the event. It prints delivery counts, latency percentiles, POST latency, and the server's
memory, threads and database connections, then drops the scratch database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter

from _common import (
    ROOT,
    admin_connection,
    base_database,
    drop_database,
    log,
    percentile,
    production_env,
    recreate_database,
)
from _sse_clients import Client

BENCH_DB = "tradenet_bench"
APP_NAME = "tradenet-bench-server"


def server_connections(db: dict) -> int:
    with admin_connection(db) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
            [BENCH_DB, APP_NAME],
        ).fetchone()[0]


def prepare_data(env: dict, users: int) -> tuple[str, list[str]]:
    """Migrate the scratch database, add two stations with stock and credits, a dispatch staff token
    (it posts the trades) and the tokens the streams sign in with: that one token again, or, with
    `users` over 1, one for each of that many operators of bench-a."""
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    script = (
        "from django.contrib.auth import get_user_model\n"
        "from knox.models import AuthToken\n"
        "from inventory.models import Commodity, Station\n"
        "from inventory.services import stock_open\n"
        "a = Station.objects.create(code='bench-a', name='Bench A', x=0)\n"
        "b = Station.objects.create(code='bench-b', name='Bench B', x=3)\n"
        "w = Commodity.objects.create(code='water', name='Water')\n"
        "stock_open([(a, w, 1_000_000)])\n"
        "from credits.services import credits_open_funds\n"
        "credits_open_funds(stations=[a, b])  # the buyer pays for what it buys\n"
        "from inventory.services import operator_grant\n"
        "import json\n"
        "User = get_user_model()\n"
        "u = User.objects.create_superuser('bench', password='x-bench-x-123')\n"
        "staff = AuthToken.objects.create(user=u)[1]\n"
        f"users = {users}\n"
        "streams = [staff]\n"
        "if users > 1:\n"
        "    streams = []\n"
        "    for n in range(users):\n"
        "        o = User.objects.create_user(f'operator-{n}', password=None)\n"
        "        operator_grant(user=o, stations=[a])\n"
        "        streams.append(AuthToken.objects.create(user=o)[1])\n"
        "print(json.dumps({'staff': staff, 'streams': streams}))\n"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    made = json.loads(done.stdout.strip().splitlines()[-1])
    return made["staff"], made["streams"]


async def run_benchmark(
    args, base_url: str, token: str, stream_tokens: list[str], server_pid: int, db: dict
) -> dict:
    import httpx
    import psutil

    server = psutil.Process(server_pid)
    host, port = base_url.removeprefix("http://").split(":")
    rss_idle = server.memory_info().rss

    clients = [Client("/api/updates/real-time/") for _ in range(args.clients)]
    tasks = []
    started = time.monotonic()
    for first in range(0, args.clients, args.ramp_batch):
        batch = clients[first : first + args.ramp_batch]
        opened = [asyncio.Event() for _ in batch]
        tasks += [
            asyncio.create_task(
                client.run(host, int(port), stream_tokens[number % len(stream_tokens)], flag)
            )
            for number, (client, flag) in enumerate(zip(batch, opened, strict=True), first)
        ]
        await asyncio.wait_for(asyncio.gather(*(flag.wait() for flag in opened)), timeout=120)
    connect_seconds = time.monotonic() - started
    log(f"{args.clients} clients connected in {connect_seconds:.1f} s")
    await asyncio.sleep(1)
    connected = {
        "rss_mb": server.memory_info().rss / 2**20,
        "threads": server.num_threads(),
        "db_connections": server_connections(db),
    }
    failed = [t for t in tasks if t.done()]
    if failed:
        raise RuntimeError(f"{len(failed)} client streams ended early: {failed[0].exception()!r}")

    post_latencies, per_trade = [], []
    body = {
        "seller": "bench-a",
        "buyer": "bench-b",
        "items": [{"commodity": "water", "quantity": 1, "unit_price": "1.00"}],
    }
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Token {token}"}, timeout=60
    ) as http:
        for number in range(args.trades):
            t0 = time.monotonic()
            response = await http.post("/api/trades/", json=body)
            post_latencies.append(time.monotonic() - t0)
            response.raise_for_status()
            transaction_id = response.json()["transaction_id"]
            deadline = time.monotonic() + args.wait
            while time.monotonic() < deadline:
                if all(transaction_id in c.received for c in clients):
                    break
                await asyncio.sleep(0.05)
            latencies = [
                c.received[transaction_id] for c in clients if transaction_id in c.received
            ]
            per_trade.append((transaction_id, len(latencies), latencies))
            p99 = percentile(latencies, 99) * 1000
            post_ms = post_latencies[-1] * 1000
            log(
                f"trade {number + 1}/{args.trades}: {len(latencies)}/{args.clients} clients, "
                f"p99 {p99:.0f} ms, POST {post_ms:.0f} ms"
            )
            await asyncio.sleep(args.pause)
    after = {
        "rss_mb": server.memory_info().rss / 2**20,
        "threads": server.num_threads(),
        "db_connections": server_connections(db),
    }
    for client in clients:
        client.close()
    for task in tasks:
        task.cancel()
    with contextlib.suppress(BaseException):
        await asyncio.gather(*tasks, return_exceptions=True)

    every = [latency for _, _, latencies in per_trade for latency in latencies]
    return {
        "clients": args.clients,
        "users": args.users,
        "trades": args.trades,
        "connect_seconds": connect_seconds,
        "delivered": sum(count for _, count, _ in per_trade),
        "reconnects": sum(c.reconnects for c in clients),
        "refusals": dict(Counter(r for c in clients for r in c.refusals)),
        "expected": args.clients * args.trades,
        "latency_ms": {
            "p50": percentile(every, 50) * 1000,
            "p90": percentile(every, 90) * 1000,
            "p99": percentile(every, 99) * 1000,
            "max": max(every) * 1000,
            "mean": statistics.fmean(every) * 1000,
        },
        "per_trade_ms": [
            {
                "first": min(latencies) * 1000,
                "p50": percentile(latencies, 50) * 1000,
                "last": max(latencies) * 1000,
            }
            for _, _, latencies in per_trade
            if latencies
        ],
        "post_ms": {
            "median": statistics.median(post_latencies) * 1000,
            "max": max(post_latencies) * 1000,
        },
        "server_idle_rss_mb": rss_idle / 2**20,
        "server_connected": connected,
        "server_after_trades": after,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--trades", type=int, default=5)
    parser.add_argument(
        "--users",
        type=int,
        default=1,
        help="who holds the streams: 1, one dispatch staff user; more, that many operators",
    )
    parser.add_argument("--ramp-batch", type=int, default=200, help="clients connected at once")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between trades")
    parser.add_argument("--wait", type=float, default=30.0, help="max seconds to wait per trade")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()

    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, args.clients * 2 + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradenet.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")  # only to read the database settings here
    db = base_database()
    log(f"scratch database {BENCH_DB} on {db['HOST'] or '127.0.0.1'}")
    recreate_database(db, BENCH_DB)
    env = production_env(db, BENCH_DB, PGAPPNAME=APP_NAME)
    server = None
    try:
        token, stream_tokens = prepare_data(env, args.users)
        # Production settings serve gathered static files and refuse to start without them.
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
            cwd=ROOT, env=env, check=True,
        )  # fmt: skip
        server = subprocess.Popen(
            [sys.executable, "-m", "tradenet.serve", "tradenet.asgi:application",
             "--host", "127.0.0.1", "--port", str(args.port), "--workers", "1", "--no-access-log",
             "--backlog", "4096", "--timeout-graceful-shutdown", "5"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        base_url = f"http://127.0.0.1:{args.port}"
        import httpx

        for _ in range(100):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base_url}/api/schema/", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        result = asyncio.run(run_benchmark(args, base_url, token, stream_tokens, server.pid, db))
    finally:
        if server is not None:
            server.terminate()
            server.wait(20)
        drop_database(db, BENCH_DB)

    lat, post = result["latency_ms"], result["post_ms"]
    c, a = result["server_connected"], result["server_after_trades"]
    report = [
        "",
        f"SSE fan-out: {result['clients']} clients on one uvicorn process, "
        f"{result['trades']} trades, streams held by "
        + ("one dispatch staff user" if result["users"] == 1 else f"{result['users']} operators"),
        f"  connected in            {result['connect_seconds']:.1f} s",
        f"  events delivered        {result['delivered']} / {result['expected']}"
        f" ({result['reconnects']} reconnections: {result['refusals'] or 'none'})",
        f"  commit -> client        p50 {lat['p50']:.0f} ms, p90 {lat['p90']:.0f} ms, "
        f"p99 {lat['p99']:.0f} ms, max {lat['max']:.0f} ms",
        "  each trade, first/median/last client: "
        + ", ".join(
            f"{t['first']:.0f}/{t['p50']:.0f}/{t['last']:.0f}" for t in result["per_trade_ms"]
        )
        + " ms",
        f"  POST /api/trades/       median {post['median']:.0f} ms, max {post['max']:.0f} ms "
        "(with all clients connected)",
        f"  server memory (RSS)     {result['server_idle_rss_mb']:.0f} MB idle, "
        f"{c['rss_mb']:.0f} MB connected, {a['rss_mb']:.0f} MB after trades",
        f"  server threads          {c['threads']} connected, {a['threads']} after trades",
        f"  server DB connections   {c['db_connections']} connected, "
        f"{a['db_connections']} after trades",
    ]
    print("\n".join(report))
    if args.json:
        print(json.dumps(result, indent=2))
    ok = result["delivered"] == result["expected"] and lat["p99"] <= 250
    print(f"  target (all delivered, p99 <= 250 ms): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
