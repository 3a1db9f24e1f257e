"""Trades posted at a steady rate (the cluster benchmark's load while streams are measured).

    _paced_trades.py BASE_URL TOKEN PER_SECOND SECONDS station-a,... commodity-a,...

One-line trades between random stations, each sent at its own moment of a fixed schedule by a
pool of callers (a slow answer delays no later trade). Prints one JSON line: how many were
answered 201, the other answers, and the latency percentiles.
"""

from __future__ import annotations

import json
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from _common import percentile


def main() -> None:
    base, token, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    stations, commodities = sys.argv[5].split(","), sys.argv[6].split(",")
    client = httpx.Client(headers={"Authorization": f"Token {token}"}, timeout=30,
                          limits=httpx.Limits(max_connections=64))  # fmt: skip
    started = time.monotonic()

    def one(number: int):
        time.sleep(max(0.0, started + number / rate - time.monotonic()))
        seller, buyer = random.sample(stations, 2)
        line = {"commodity": random.choice(commodities), "quantity": 1, "unit_price": "1.00"}
        body = {"seller": seller, "buyer": buyer, "items": [line]}
        sent = time.monotonic()
        try:
            status = client.post(f"{base}/api/trades/", json=body).status_code
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        return status, time.monotonic() - sent

    with ThreadPoolExecutor(64) as pool:
        results = list(pool.map(one, range(int(rate * seconds))))
    statuses: dict[str, int] = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    latencies = [seconds for _, seconds in results]
    print(
        json.dumps(
            {
                "answered": statuses.pop("201", 0),
                "errors": statuses,
                "p50_ms": percentile(latencies, 50) * 1000,
                "p99_ms": percentile(latencies, 99) * 1000,
                "seconds": time.monotonic() - started,
            }
        )
    )


if __name__ == "__main__":
    main()
