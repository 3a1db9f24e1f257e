"""What the failover tests run inside a namespace, beside tests/deploy/cluster/agents.py: a sampler
of the leader's advisory locks that follows the leader, the three kinds of event consumer
(streams that resume by Last-Event-ID, a RabbitMQ queue on the feed, a webhook receiver), and
a sampler of the app hosts' /readyz, and a probe of whether an isolated former primary still
takes writes.

Each consumer records every delivery it gets as [id, digest of the JSON body, type], copies
included, and stops once it has seen every id listed in --stop-file, or after --seconds."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx


def digest(body: bytes | str) -> str:
    return hashlib.sha1(body.encode() if isinstance(body, str) else body).hexdigest()[:16]


class Until:
    """Done once this consumer has seen every id the stop file lists (the test writes there the
    public ids committed during the run, when the trades are done), or at the deadline."""

    def __init__(self, args):
        self.stop_file, self.deadline = Path(args.stop_file), time.monotonic() + args.seconds
        self.seen: set[int] = set()
        self.expected: set[int] | None = None

    def saw(self, event_id: int) -> None:
        self.seen.add(event_id)

    def done(self) -> bool:
        if time.monotonic() > self.deadline:
            return True
        if self.expected is None and self.stop_file.exists():
            self.expected = set(json.loads(self.stop_file.read_text()))
        return self.expected is not None and self.expected <= self.seen


def leader_locks(args) -> dict:
    """Every 100 ms for `seconds`, through HAProxy's primary port (whichever node leads): the
    advisory locks held and by how many, and which node answered. A sample that fails is
    recorded as such, and the sampler connects again."""
    import psycopg

    samples = []
    stop_at = time.monotonic() + args.seconds
    while time.monotonic() < stop_at:
        try:
            with psycopg.connect(args.dsn, autocommit=True, connect_timeout=2) as conn:
                while time.monotonic() < stop_at:
                    node = conn.execute("SELECT host(inet_server_addr())").fetchone()[0]
                    rows = conn.execute(
                        "SELECT (classid::bigint << 32) | objid::bigint, count(*)"
                        " FROM pg_locks WHERE locktype = 'advisory' AND granted GROUP BY 1"
                    ).fetchall()
                    samples.append({"t": time.time(), "node": node,
                                    "held": {str(k): n for k, n in rows}})  # fmt: skip
                    time.sleep(0.1)
        except psycopg.Error as exc:
            samples.append({"t": time.time(), "error": type(exc).__name__})
            time.sleep(0.2)
    return {"samples": samples}


def follow(args) -> dict:
    """One stream client per URL that, whenever its stream ends or fails, opens it again with
    Last-Event-ID set to the last id it got (as a browser's EventSource does)."""
    headers = {"Authorization": f"Token {args.token}"}
    got: dict[str, list] = {url: [] for url in args.urls}
    reconnects: dict[str, list] = {url: [] for url in args.urls}  # [time, why, last id]
    untils = {url: Until(args) for url in args.urls}

    def listen(url):
        last = args.after
        until = untils[url]
        while not until.done():
            try:
                timeout = httpx.Timeout(10, read=30)  # keep-alives every 15 s
                resume = {**headers, "Last-Event-ID": str(last)}
                path = f"{url}/api/updates/real-time/"
                with httpx.stream("GET", path, timeout=timeout, headers=resume) as answer:
                    if answer.status_code != 200:
                        raise httpx.HTTPStatusError("not 200", request=None, response=answer)
                    buffer = b""
                    for chunk in answer.iter_raw():
                        buffer += chunk
                        while b"\n\n" in buffer:
                            frame, buffer = buffer.split(b"\n\n", 1)
                            fields = dict(
                                line.split(b": ", 1) for line in frame.split(b"\n")
                                if b": " in line and not line.startswith(b":")
                            )  # fmt: skip
                            if b"id" in fields and b"data" in fields:
                                last = int(fields[b"id"])
                                got[url].append([last, digest(fields[b"data"]),
                                                 fields.get(b"event", b"").decode()])  # fmt: skip
                                until.saw(last)
                        if until.done():
                            return
                why = "ended"
            except (httpx.HTTPError, ValueError) as exc:
                why = type(exc).__name__
                time.sleep(0.5)
            reconnects[url].append([time.time(), why, last])

    threads = [threading.Thread(target=listen, args=(url,), daemon=True) for url in args.urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(args.seconds + 30)
    return {"got": got, "reconnects": reconnects}


def feed(args) -> dict:
    """A RabbitMQ consumer of the event feed: its own queue bound to every routing key."""
    import asyncio

    import aio_pika

    got, until = [], Until(args)

    async def consume():
        connection = await aio_pika.connect_robust(args.dsn, timeout=10)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(
                args.exchange, aio_pika.ExchangeType.TOPIC, durable=True
            )
            queue = await channel.declare_queue("", exclusive=True)
            await queue.bind(exchange, routing_key="#")

            async def received(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                async with message.process():
                    got.append([int(message.message_id), digest(message.body), message.type])
                    until.saw(int(message.message_id))

            await queue.consume(received)
            Path(args.stop_file + ".ready").write_text("ready")
            while not until.done():
                await asyncio.sleep(0.2)

    asyncio.run(consume())
    return {"got": got}


def webhooks(args) -> dict:
    """A webhook receiver on --listen (host:port), registered for every event by the caller
    (--token), answering 204 to each delivery; it deletes its endpoint when done."""
    got, until, lock = [], Until(args), threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            event_id = self.headers.get("webhook-id", "")
            if event_id.isdigit():
                with lock:
                    got.append([int(event_id), digest(body), json.loads(body).get("type", "")])
                    until.saw(int(event_id))
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format, *args):
            pass

    host, port = args.listen.split(":")
    server = ThreadingHTTPServer((host, int(port)), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    auth = {"Authorization": f"Token {args.token}"}
    made = httpx.post(f"{args.base}/api/webhooks/", headers=auth, timeout=30,
                      json={"url": f"http://{args.listen}/tradenet"})  # fmt: skip
    made.raise_for_status()
    Path(args.stop_file + ".ready").write_text("ready")
    while not until.done():
        time.sleep(0.2)
    server.shutdown()
    for _ in range(30):  # the cluster may be failing over: try until it answers
        try:
            httpx.delete(f"{args.base}/api/webhooks/{made.json()['id']}/", headers=auth,
                         timeout=10).raise_for_status()  # fmt: skip
            break
        except httpx.HTTPError:
            time.sleep(1)
    return {"got": got}


def readiness(args) -> dict:
    """Every 250 ms for `seconds`: each app host's /readyz status (0: no answer)."""
    samples = {url: [] for url in args.urls}
    stop_at = time.monotonic() + args.seconds
    with httpx.Client(timeout=2) as http:
        while time.monotonic() < stop_at:
            for url in args.urls:
                try:
                    status = http.get(f"{url}/readyz").status_code
                except httpx.HTTPError:
                    status = 0
                samples[url].append([time.time(), status])
            time.sleep(0.25)
    return {"samples": samples}


def fence(args) -> dict:
    """On a database host, over its Unix socket (it works with the host's link down): every
    250 ms, whether its PostgreSQL is a primary and whether it takes a local write (one that
    waits for no standby). Times of the writes it took, and of the samples."""
    import psycopg

    writes, samples = [], []
    dsn = f"host={args.socket_dir} dbname=tradenet user=postgres connect_timeout=2"
    stop_at = time.monotonic() + args.seconds
    while time.monotonic() < stop_at:
        started = time.time()
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                recovery = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
                samples.append([started, "standby" if recovery else "primary"])
                if not recovery:
                    with conn.transaction():
                        conn.execute("SET LOCAL synchronous_commit = local")
                        conn.execute("SET LOCAL statement_timeout = 2000")
                        conn.execute("INSERT INTO cluster_fence_probe (at) VALUES (now())")
                    writes.append(started)
        except psycopg.Error as exc:
            samples.append([started, type(exc).__name__])
        time.sleep(0.25)
    return {"writes": writes, "samples": samples}


SCENARIOS = {"leader_locks": leader_locks, "follow": follow, "feed": feed,
             "webhooks": webhooks, "readiness": readiness, "fence": fence}  # fmt: skip
