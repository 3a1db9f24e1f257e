"""A real SSE client for tests: reads a stream over HTTP in a background thread."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
from dataclasses import dataclass

import httpx


@dataclass
class Message:
    event: str
    data: str
    id: str | None

    @property
    def json(self):
        return json.loads(self.data)


class SSEClient:
    def __init__(self, url: str, headers: dict | None = None, cookies: dict | None = None):
        self.url = url
        self.messages: queue.Queue[Message] = queue.Queue()
        self.comments: list[str] = []
        self.history: list[Message] = []  # every message, whoever consumed it
        self.status: int | None = None
        self.headers: httpx.Headers | None = None
        self.body = b""
        self._opened = threading.Event()
        self._response: httpx.Response | None = None
        self._stop = threading.Event()
        self._client = httpx.Client(
            headers=headers, cookies=cookies, timeout=httpx.Timeout(10, read=60)
        )
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._opened.wait(15):
            raise TimeoutError(f"no answer from {url}")

    def _run(self) -> None:
        try:
            with self._client.stream("GET", self.url) as response:
                self._response = response
                self.status, self.headers = response.status_code, response.headers
                if response.status_code != 200:
                    self.body = response.read()
                    self._opened.set()
                    return
                event, data, last_id = "message", [], None
                for line in response.iter_lines():
                    if line.startswith(": stream open"):
                        self._opened.set()
                    if self._stop.is_set():
                        return
                    if line == "":
                        if data:
                            message = Message(event, "\n".join(data), last_id)
                            self.history.append(message)
                            self.messages.put(message)
                        event, data = "message", []
                    elif line.startswith(":"):
                        self.comments.append(line[1:].strip())
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].lstrip())
                    elif line.startswith("id:"):
                        last_id = line[3:].strip()
        except (httpx.HTTPError, RuntimeError):
            pass
        finally:
            self._opened.set()

    def next(self, timeout: float = 30.0) -> Message:
        return self.messages.get(timeout=timeout)

    def next_of(self, event_type: str, timeout: float = 30.0) -> Message:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {event_type} within {timeout}s")
            message = self.next(remaining)
            if message.event == event_type:
                return message

    def next_where(self, event_type: str, predicate, timeout: float = 30.0) -> Message:
        """The next `event_type` whose JSON satisfies `predicate`: events committed before
        the test's own (a fixture's opening stock, relayed a moment after the stream opened)
        may come first."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.next_of(event_type, max(0.01, deadline - time.monotonic()))
            if predicate(message.json):
                return message

    def drain(self, wait: float = 0.5) -> list[Message]:
        out = []
        deadline = time.monotonic() + wait
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                out.append(self.messages.get(timeout=remaining))
            except queue.Empty:
                break
        return out

    def ended(self, timeout: float) -> bool:
        """Whether the server ends the stream within `timeout` seconds."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def close(self) -> None:
        close_all([self])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def close_all(clients: list[SSEClient]) -> None:
    """Stop every reader first, then wait: each notices at its next line (a keep-alive at the
    latest), so closing many takes one keep-alive interval, not one each."""
    for client in clients:
        client._stop.set()
        if client._response is not None:
            # Shutting the socket down unblocks the reader's pending read at once.
            with contextlib.suppress(Exception):
                stream = client._response.extensions["network_stream"]
                stream.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
        client._client.close()
    for client in clients:
        client._thread.join(5)
