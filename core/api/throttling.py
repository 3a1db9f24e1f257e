"""DRF's throttles, counted where every worker and host sees the same counts.

DRF keeps a throttle's history in Django's default cache, here process-local memory: a limit
of N a minute became N times the workers times the hosts. These count in the `throttles`
cache instead: Redis with REDIS_URL (shared by the fleet), else this process's memory (one
host, one worker: the same). While Redis is away, requests are still answered: the counts fall
back to this process's memory for FALLBACK_SECONDS, then Redis is tried again.
"""

from __future__ import annotations

import logging
import threading
import time

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from rest_framework import throttling

logger = logging.getLogger(__name__)

FALLBACK_SECONDS = 5.0


class SharedCounts:
    """The two calls DRF's throttles make (get, set), on the shared cache, or on a local one
    while the shared one fails."""

    def __init__(self):
        self.local = LocMemCache("tradenet-throttles-fallback", {})
        self._failed_at = 0.0
        self._lock = threading.Lock()

    def _shared(self):
        if time.monotonic() - self._failed_at < FALLBACK_SECONDS:
            return None
        return caches["throttles"]

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            if time.monotonic() - self._failed_at >= FALLBACK_SECONDS:
                logger.warning("throttle counts fall back to this process (%s)", exc)
            self._failed_at = time.monotonic()

    def get(self, key, default=None):
        shared = self._shared()
        if shared is not None:
            try:
                return shared.get(key, default)
            except Exception as exc:
                self._failed(exc)
        return self.local.get(key, default)

    def set(self, key, value, timeout=None):
        shared = self._shared()
        if shared is not None:
            try:
                shared.set(key, value, timeout)
                return
            except Exception as exc:
                self._failed(exc)
        self.local.set(key, value, timeout)


counts = SharedCounts()


class AnonRateThrottle(throttling.AnonRateThrottle):
    cache = counts


class UserRateThrottle(throttling.UserRateThrottle):
    cache = counts


class ScopedRateThrottle(throttling.ScopedRateThrottle):
    cache = counts
