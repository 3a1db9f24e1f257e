"""uvicorn's httptools protocol with the limits uvicorn does not set (deploy/serve.sh uses it).

- A request head (request line and header fields) larger than MAX_HEADER_FIELDS x
  MAX_HEADER_LINE bytes is answered 431 and the connection closed as soon as that many bytes
  have arrived, before the parser buffers more: 50 MB of headers cost the server 800 KB.
- A header field over MAX_HEADER_LINE bytes, or more than MAX_HEADER_FIELDS fields: 400.
  (gunicorn's defaults: 8190 bytes a line, 100 fields.)
- A request body that stops arriving (a chunked body that never ends) closes the connection
  after BODY_READ_TIMEOUT seconds without a byte; the application sees a disconnect.
"""

from __future__ import annotations

import os

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_LINE = int(os.environ.get("TRADENET_MAX_HEADER_LINE", "8190"))
MAX_HEADER_FIELDS = int(os.environ.get("TRADENET_MAX_HEADER_FIELDS", "100"))
MAX_HEAD = MAX_HEADER_LINE * (MAX_HEADER_FIELDS + 1)
BODY_READ_TIMEOUT = float(os.environ.get("TRADENET_BODY_READ_TIMEOUT_SECONDS", "30"))

TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 31\r\n"
    b"connection: close\r\n\r\n"
    b"Request header fields too large"
)


class HeaderFieldsTooLarge(Exception):
    pass


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._fields = 0
        self._in_head = True
        self._body_timer = None

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                self.transport.write(TOO_LARGE)
                self.transport.close()
                return
        elif self._body_timer is not None:
            self._arm_body_timer()
        super().data_received(data)  # a HeaderFieldsTooLarge raised while parsing: 400

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields += 1
        if len(name) + len(value) > MAX_HEADER_LINE or self._fields > MAX_HEADER_FIELDS:
            raise HeaderFieldsTooLarge()
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()
        self._arm_body_timer()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm_body_timer()
        self._in_head, self._head_bytes, self._fields = True, 0, 0

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_body_timer()
        super().connection_lost(exc)

    def _arm_body_timer(self) -> None:
        self._disarm_body_timer()
        self._body_timer = self.loop.call_later(BODY_READ_TIMEOUT, self._body_timed_out)

    def _disarm_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_timed_out(self) -> None:
        self._body_timer = None
        self.logger.warning(
            "request body stalled for %s s; closing the connection", BODY_READ_TIMEOUT
        )
        self.transport.close()


def exit_with_parent() -> None:
    """Have the kernel send this process SIGTERM when the process that started it dies.

    A uvicorn worker whose master was killed with -9 would otherwise keep serving as an orphan
    and hold the port, so the next start fails with EADDRINUSE. Linux only; elsewhere, nothing.
    """
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    # The server's pid, as deploy/serve.sh recorded it before exec'ing uvicorn: a worker that
    # starts after its master died (so is already an orphan) must notice too.
    recorded = os.environ.get("TRADENET_SERVER_PID", "")
    parent = int(recorded) if recorded.isdigit() else os.getppid()
    if parent == os.getpid():
        return  # one process serves (WEB_CONCURRENCY=1): it is the server, with no master
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the wish was registered
        os.kill(os.getpid(), signal.SIGTERM)
