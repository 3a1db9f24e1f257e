"""The few threads through which every event stream of a process touches the database.

Streams are served on the event loop; what they need from PostgreSQL (signing the caller in,
replaying missed events) runs here. However many clients are connected, a process uses at most
TRADENET_SSE_DB_THREADS connections for them.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

_executor: ThreadPoolExecutor | None = None


def executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(
            max_workers=settings.TRADENET_SSE_DB_THREADS, thread_name_prefix="sse-db"
        )
    return _executor


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (OperationalError, InterfaceError):
        # A connection dropped since this thread last used it (a database restart): retry once
        # on a fresh one.
        connection.close()
        return fn(*args, **kwargs)


async def run(fn, *args, **kwargs):
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor(), functools.partial(_call, fn, *args, **kwargs))
