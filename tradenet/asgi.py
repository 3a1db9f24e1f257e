"""The ASGI application that servers run (uvicorn through deploy/serve.sh; also plain uvicorn,
gunicorn with uvicorn's worker, daphne: docs/deployment.md#entry-points).

Event streams and probes are answered on the event loop (tradenet.routing). Every other request
goes to Django's WSGI handler on a pool of TRADENET_WEB_THREADS threads per process
(tradenet.wsgi_bridge, on a2wsgi):
Django's ASGI handler runs sync views one at a time per process (on its single
thread-sensitive executor) and costs about twice the CPU per request; measured in
docs/performance.md#serving-model.
"""

import contextlib
import gc
import os
import sys
import threading

# First, as Django's own asgi.py does: every server (uvicorn, gunicorn's uvicorn worker,
# daphne) imports this module with nothing else set up, and nothing below may read a setting
# before this default is in place.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradenet.settings")

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from tradenet.wsgi_bridge import ThreadPoolWSGI

# Each worker's event loop (streams, the relay's deliveries) shares the GIL with the threads
# running views; with the default 5 ms slices a busy view thread keeps the loop waiting, and
# commit -> client p99 under write load went from 0.4 s to 3.8 s
# (docs/performance.md#serving-model).
sys.setswitchinterval(0.001)

_thread = threading.local()


def nicer_view_threads(wsgi_application):
    """Each thread running views runs TRADENET_VIEW_THREAD_NICENESS nicer than the rest of the
    process (Linux sets niceness per thread): when the write path saturates the CPU, requests
    wait a little longer, and the event loop (streams), the relay and the exporters do not fall
    seconds behind (docs/performance.md#serving-model)."""
    niceness = settings.TRADENET_VIEW_THREAD_NICENESS

    def application(environ, start_response):
        if niceness and not getattr(_thread, "niced", False):
            _thread.niced = True
            with contextlib.suppress(OSError, AttributeError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
        return wsgi_application(environ, start_response)

    return application


django_application = ThreadPoolWSGI(
    nicer_view_threads(get_wsgi_application()), workers=settings.TRADENET_WEB_THREADS
)

# The URLconf (and every view, serializer and schema it imports) loaded now, not by a worker's
# first request: each worker otherwise spent its first second of requests importing, which
# showed as a seventh of a profile under load (docs/performance.md, "Where a trade's CPU goes").
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns  # noqa: B018  (loading it is the point)

from tradenet.routing import EventStreamRouter  # noqa: E402  (needs the apps loaded)

application = EventStreamRouter(django_application)

# Everything loaded so far (Django, the apps, the URLconf) lives as long as the process: kept
# out of the collector's full passes, which otherwise walk it all again whenever enough new
# objects (a few thousand streams signing in) trigger one, stalling every stream's delivery.
gc.freeze()
