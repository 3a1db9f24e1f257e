"""What the cluster tests run inside a namespace (`ip netns exec tn-client ...`): clients of the
load balancer, the Pushpins and the app hosts, and a sampler of the primary's locks (in tn-db).
Each prints one JSON document on stdout. The test process itself, in the root namespace, never
sends to a cluster address."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

BODY = {
    "seller": "ceres-prime",
    "buyer": "luna-gateway",
    "items": [{"commodity": "water", "quantity": 1, "unit_price": "2.00"}],
}


def trades(args) -> dict:
    """Clients posting trades for `seconds`, each with an Idempotency-Key retried until it is
    answered (a host killed midway answers nothing; the retry may land on the other)."""
    headers = {"Authorization": f"Token {args.token}"}
    httpx.post(
        f"{args.base}/api/inventory/ceres-prime/adjustments/",
        json={"commodity": "water", "delta": 10_000_000, "reason": "cluster test stock"},
        headers=headers, timeout=30,
    ).raise_for_status()  # fmt: skip
    stop_at = time.monotonic() + args.seconds
    answered, lock = [], threading.Lock()

    def client():
        with httpx.Client(base_url=args.base, headers=headers, timeout=10) as http:
            while time.monotonic() < stop_at:
                key, tries, outcome, statuses = uuid.uuid4().hex, 0, None, []
                sent = time.time()
                while outcome is None and tries < args.tries:
                    tries += 1
                    try:
                        answer = http.post("/api/trades/", json=BODY,
                                           headers={"Idempotency-Key": key})  # fmt: skip
                        statuses.append(answer.status_code)
                        if answer.status_code == 503 and "Retry-After" not in answer.headers:
                            statuses.append("503 without Retry-After")
                        if answer.status_code < 500:
                            outcome = (answer.status_code, answer.json().get("transaction_id"))
                            continue
                    except httpx.HTTPError as exc:
                        statuses.append(type(exc).__name__)
                    time.sleep(0.2)
                record = {"key": key, "tries": tries, "outcome": outcome, "sent": sent}
                with lock:
                    answered.append({**record, "at": time.time(), "statuses": statuses})

    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"answered": answered}


def locks(args) -> dict:
    """Every 100 ms for `seconds`: which advisory locks are held on the primary, by how many."""
    import psycopg

    samples = []
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        stop_at = time.monotonic() + args.seconds
        while time.monotonic() < stop_at:
            rows = conn.execute(
                "SELECT (classid::bigint << 32) | objid::bigint, count(*) FROM pg_locks"
                " WHERE locktype = 'advisory' AND granted GROUP BY 1"
            ).fetchall()
            samples.append({"t": time.time(), "held": {str(k): n for k, n in rows}})
            time.sleep(0.1)
    return {"samples": samples}


def read_your_writes(args) -> dict:
    """POST a trade, then GET it and the list, `pairs` times, as one caller."""
    headers = {"Authorization": f"Token {args.token}"}
    missed = []
    with httpx.Client(base_url=args.base, headers=headers, timeout=10) as http:
        for _ in range(args.pairs):
            made = http.post("/api/trades/", json=BODY)
            made.raise_for_status()
            transaction_id = made.json()["transaction_id"]
            detail = http.get(f"/api/trades/{transaction_id}/")
            listed = http.get("/api/trades/", params={"page_size": 5})
            ids = {t["transaction_id"] for t in listed.json()["results"]}
            if detail.status_code != 200 or transaction_id not in ids:
                missed.append(transaction_id)
    return {"missed": missed}


def lists(args) -> dict:
    """`clients` concurrent callers reading lists: statuses and the slowest answer."""
    headers = {"Authorization": f"Token {args.token}"}

    refusals = []  # the first few answers that were not 200, to say who refused and why

    def one(_):
        started = time.monotonic()
        try:
            answer = httpx.get(f"{args.base}/api/trades/", headers=headers, timeout=30)
            status = answer.status_code
            if status != 200 and len(refusals) < 3:
                refusals.append(answer.text[:300])
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        return status, time.monotonic() - started

    with ThreadPoolExecutor(args.clients) as pool:
        results = list(pool.map(one, range(args.clients * args.rounds)))
    statuses = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    slowest = max(seconds for _, seconds in results)
    return {"statuses": statuses, "slowest": slowest, "refusals": refusals}


def streams(args) -> dict:
    """One stream client per URL, resuming after `after`, for `seconds`: the ids each got, and
    whether the server (or Pushpin) ended it."""
    headers = {"Authorization": f"Token {args.token}", "Last-Event-ID": str(args.after)}
    got = {url: [] for url in args.urls}
    ended = {url: False for url in args.urls}

    def listen(url):
        try:
            timeout = httpx.Timeout(10, read=None)
            path = f"{url}/api/updates/real-time/"
            with httpx.stream("GET", path, headers=headers, timeout=timeout) as answer:
                # Raw bytes, split here: iter_lines held the last frame back until more came.
                buffer = b""
                for chunk in answer.iter_raw():
                    *lines, buffer = (buffer + chunk).split(b"\n")
                    got[url] += [int(line[4:]) for line in lines if line.startswith(b"id: ")]
            ended[url] = True  # the server (or Pushpin) closed it
        except httpx.HTTPError as exc:
            got[url].append(f"error: {exc!r}")

    for url in args.urls:
        threading.Thread(target=listen, args=(url,), daemon=True).start()
    time.sleep(args.seconds)  # then report, whatever the streams are doing
    return {"got": {url: list(ids) for url, ids in got.items()}, "ended": dict(ended)}


def revoke(args) -> dict:
    """Revoke every token of the caller, then post `pairs` trades with another caller's token
    (--dsn here: that token)."""
    answer = httpx.post(f"{args.base}/api/auth/token/revoke-all/",
                        headers={"Authorization": f"Token {args.token}"}, timeout=30)  # fmt: skip
    posted = []
    for _ in range(args.pairs):
        made = httpx.post(f"{args.base}/api/trades/", json=BODY, timeout=30,
                          headers={"Authorization": f"Token {args.dsn}"})  # fmt: skip
        posted.append(made.status_code)
    return {"revoked": answer.status_code, "posted": posted}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario")
    parser.add_argument("--base")
    parser.add_argument("--token")
    parser.add_argument("--dsn")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--after", type=int, default=0)
    parser.add_argument("--urls", nargs="*", default=[])
    parser.add_argument("--tries", type=int, default=50)
    parser.add_argument("--stop-file", default="")
    parser.add_argument("--socket-dir", default="")
    parser.add_argument("--listen", default="")
    parser.add_argument("--exchange", default="tradenet.events")
    args = parser.parse_args()
    from failover_agents import SCENARIOS as FAILOVER

    scenarios = {"trades": trades, "locks": locks, "read_your_writes": read_your_writes,
                 "lists": lists, "streams": streams, "revoke": revoke, **FAILOVER}  # fmt: skip
    json.dump(scenarios[args.scenario](args), sys.stdout)


if __name__ == "__main__":
    main()
