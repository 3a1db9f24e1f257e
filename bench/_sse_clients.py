"""SSE clients for the write-path benchmark, in a process of their own.

    _sse_clients.py BASE_URL TOKEN CLIENTS station-a,station-b,... [--latencies]

Opens CLIENTS station streams, spread round-robin over the stations, prints "connected", then
records every trade.initiated each client reads (its transaction id and the delay from the
commit, `published_at`). On "stop" from stdin it prints one JSON line: per station, the
transaction ids each of its clients saw; latency percentiles; how many streams dropped
(with --latencies, every delay too, for percentiles over several such processes).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime

from _common import percentile


class Client:
    """One stream (plain asyncio socket): the trade.initiated events it reads, with the delay
    from their commit (`published_at`). Like a browser's EventSource, it reconnects when its
    stream is refused or ends (after the server's `retry`, 2 s), resuming with Last-Event-ID;
    after RETRIES failed attempts in a row it counts as dropped."""

    RETRIES = 5

    def __init__(self, path: str, station: str | None = None):
        self.path = path
        self.station = station
        self.received: dict[str, float] = {}  # transaction_id -> latency in seconds
        self.dropped = False
        self.reconnects = 0
        self.refusals: list[str] = []  # the status lines of refused attempts
        self.last_id: bytes | None = None
        self.closing = False
        self.writer: asyncio.StreamWriter | None = None

    def close(self) -> None:
        self.closing = True
        if self.writer is not None:
            self.writer.close()

    async def run(self, host: str, port: int, token: str, opened: asyncio.Event) -> None:
        failures = 0
        while not self.closing:
            if await self._listen(host, port, token, opened):
                failures = 0
            else:
                failures += 1
            if self.closing:
                return
            if failures >= self.RETRIES:
                self.dropped = True
                opened.set()
                return
            self.reconnects += 1
            await asyncio.sleep(2)

    async def _listen(self, host: str, port: int, token: str, opened: asyncio.Event) -> bool:
        """One connection; whether the stream was open before it ended."""
        was_open = False
        try:
            reader, self.writer = await asyncio.open_connection(host, port, limit=2**20)
            resume = f"Last-Event-ID: {self.last_id.decode()}\r\n" if self.last_id else ""
            self.writer.write(
                f"GET {self.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Authorization: Token {token}\r\nAccept: text/event-stream\r\n"
                f"{resume}\r\n".encode()
            )
            status = await reader.readline()
            if b" 200 " not in status:
                self.refusals.append(status.decode("latin-1").strip())
                return False
            event, unparsed = None, b""
            while True:
                # What arrived, timed when it arrived, then parsed: the delay is the stream's,
                # not this process's parsing of 2,000 streams' lines one await at a time
                # (which, with every client in one process, made the last client's delay).
                chunk = await reader.read(2**16)
                if not chunk:
                    self.refusals.append("ended by the server" if was_open else "closed")
                    return was_open
                now = time.time()
                *lines, unparsed = (unparsed + chunk).split(b"\n")
                for line in lines:
                    line = line.rstrip(b"\r")
                    if line.startswith(b": stream open"):
                        was_open = True
                        opened.set()
                    elif line.startswith(b"id: "):
                        self.last_id = line[4:].strip()
                    elif line.startswith(b"event: "):
                        event = line[7:].strip()
                    elif line.startswith(b"data: ") and event == b"trade.initiated":
                        data = json.loads(line[6:])
                        published = datetime.fromisoformat(data["published_at"]).timestamp()
                        self.received.setdefault(data["transaction_id"], now - published)
                    elif not line:
                        event = None
        except OSError:
            return was_open


async def main() -> None:
    base_url, token, count, stations = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    host, port = base_url.removeprefix("http://").split(":")
    codes = stations.split(",")
    clients = [
        Client(f"/api/updates/stations/{code}/", code)
        for code in (codes[i % len(codes)] for i in range(count))
    ]
    tasks = []
    for first in range(0, count, 200):
        batch = clients[first : first + 200]
        flags = [asyncio.Event() for _ in batch]
        tasks += [
            asyncio.create_task(c.run(host, int(port), token, f))
            for c, f in zip(batch, flags, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(f.wait() for f in flags)), timeout=120)
    print("connected", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    latencies = [x for c in clients for x in c.received.values()]
    per_station: dict[str, list[list[str]]] = {}
    for c in clients:
        per_station.setdefault(c.station, []).append(sorted(c.received))
    for c in clients:
        c.close()
    for task in tasks:
        task.cancel()
    print(
        json.dumps(
            {
                "clients": count,
                "per_station": per_station,
                "received": len(latencies),
                "latencies": latencies if "--latencies" in sys.argv else None,
                "p50_ms": percentile(latencies, 50) * 1000,
                "p99_ms": percentile(latencies, 99) * 1000,
                "dropped": sum(c.dropped for c in clients),
                "reconnects": sum(c.reconnects for c in clients),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
