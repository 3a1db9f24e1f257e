"""The ASGI application that servers run (uvicorn, through deploy/serve.sh).

Event streams and probes are answered on the event loop (updates.asgi). Every other request
goes to Django's WSGI handler on a pool of TRADENET_WEB_THREADS threads per process (a2wsgi):
Django's ASGI handler runs sync views one at a time per process (on its single
thread-sensitive executor) and costs about twice the CPU per request; measured in README
("Serving model").
"""

import os
import sys

from a2wsgi import WSGIMiddleware
from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradenet.settings")

# Each worker's event loop (streams, the relay's deliveries) shares the GIL with the threads
# running views; with the default 5 ms slices a busy view thread keeps the loop waiting, and
# commit -> client p99 under write load went from 0.4 s to 3.8 s (README, "Serving model").
sys.setswitchinterval(0.001)

django_application = WSGIMiddleware(
    get_wsgi_application(), workers=settings.TRADENET_WEB_THREADS, send_queue_size=10
)

from updates.asgi import EventStreamRouter  # noqa: E402  (needs the apps loaded)

application = EventStreamRouter(django_application)
