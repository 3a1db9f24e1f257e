"""Django's WSGI handler on a pool of threads, under the ASGI server (tradenet/asgi.py).

a2wsgi's responder hands every step of a request between the view's thread and the event loop
and back: the body, then the response's start, its body and its end, each a wake-up of the loop
and a wait for it (8 % of a worker's time in the write-path benchmark). This one reads a body
of known, bounded length on the loop before the view runs, and returns a response that is not
streamed in one piece when the view is done: a request costs the thread pool's own two
hand-offs and nothing more. Streamed responses (FileResponse, StreamingHttpResponse), bodies of
large length and WSGI's write() take a2wsgi's way, one hand-off a chunk. A chunked body (no
Content-Length) is read whole up to the same limit and handed to Django with its length: under
WSGI, Django reads no more than Content-Length says, so it saw such a body as empty.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from typing import Any

from a2wsgi.wsgi import Body, WSGIMiddleware, WSGIResponder, build_environ
from django.conf import settings


def prefetch_limit() -> int:
    """Bodies up to Django's own limit on what it reads into memory are read before the view
    runs; larger ones as the view reads them (Django refuses them, or streams an upload to
    disk); a chunked body over it is answered 413, as Django would answer it. Read from the
    settings when asked, never at import: this module is imported before Django is set up."""
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440


class ThreadPoolWSGI(WSGIMiddleware):
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            return await OneHandOffResponder(self.app, self.executor)(scope, receive, send)
        return await super().__call__(scope, receive, send)


class OneHandOffResponder(WSGIResponder):
    def __init__(self, app, executor) -> None:
        super().__init__(app, executor, send_queue_size=1)
        self._start: dict[str, Any] | None = None

    async def __call__(self, scope, receive, send) -> None:
        self._send = send
        body = Body(self.loop, receive)
        if not await prefetch(body, scope, receive):
            await send_too_large(send)
            return
        environ = build_environ(scope, body)
        if "CONTENT_LENGTH" not in environ and not body._has_more:
            environ["CONTENT_LENGTH"] = str(len(body.buffer))
        run = functools.partial(contextvars.copy_context().run, self.wsgi)
        for message in await self.loop.run_in_executor(
            self.executor, run, environ, self.start_response
        ):
            await send(message)
        if self.exc_info is not None:
            raise self.exc_info[0].with_traceback(self.exc_info[1], self.exc_info[2])

    def send(self, message) -> None:
        """From the view's thread: one message, waiting until the loop has sent it."""
        asyncio.run_coroutine_threadsafe(self._send(message), loop=self.loop).result()

    def start_response(self, status, response_headers, exc_info=None):
        self.exc_info = exc_info
        if not self.response_started:
            self.response_started = True
            self._start = {
                "type": "http.response.start",
                "status": int(status.split(" ", 1)[0]),
                "headers": [
                    (name.strip().encode("latin1").lower(), value.strip().encode("latin1"))
                    for name, value in response_headers
                ],
            }
        return self._write

    def _write(self, chunk: bytes) -> None:  # WSGI's write(): sent as it comes
        self._flush_start()
        self.send({"type": "http.response.body", "body": chunk, "more_body": True})

    def _flush_start(self) -> None:
        if self._start is not None:
            start, self._start = self._start, None
            self.send(start)

    def wsgi(self, environ, start_response) -> list[dict[str, Any]]:
        """Run the view; what is left to send, which the loop sends when this returns."""
        iterable = self.app(environ, start_response)
        try:
            if getattr(iterable, "streaming", False):
                for chunk in iterable:
                    self._write(chunk)
                self._flush_start()
                self.send({"type": "http.response.body", "body": b""})
                return []
            body = b"".join(iterable)
        finally:
            getattr(iterable, "close", lambda: None)()
        last = {"type": "http.response.body", "body": body}
        return [self._start, last] if self._start is not None else [last]


async def prefetch(body: Body, scope, receive) -> bool:
    """Read a body of known length up to prefetch_limit(), or a chunked one (whose length WSGI
    cannot tell Django, which would otherwise see none) up to the limit, into `body` on the
    loop. False for a chunked body over the limit."""
    limit = prefetch_limit()
    headers = dict(scope["headers"])
    length = headers.get(b"content-length")
    if length is not None:
        if not length.isdigit() or int(length) > limit:
            return True  # read as the view reads it; Django refuses it if too large
    elif b"chunked" not in headers.get(b"transfer-encoding", b"").lower():
        return True
    while body._has_more:
        message = await receive()
        body._has_more = message.get("more_body", False)
        body.buffer.extend(message.get("body", b""))
        if len(body.buffer) > limit:
            return False
    return True


async def send_too_large(send) -> None:
    text = b'{"message": "The request body is too large.", "code": "payload_too_large"}'
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(text)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": text})
