"""The ASGI application that servers run (uvicorn, through deploy/serve.sh).

Event streams and probes are answered on the event loop (updates.asgi). Every other request
goes to Django's WSGI handler on a pool of TRADENET_WEB_THREADS threads per process (a2wsgi):
Django's ASGI handler runs sync views one at a time per process (on its single
thread-sensitive executor) and costs about twice the CPU per request; measured in README
("Serving model").
"""

import os

from a2wsgi import WSGIMiddleware
from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradenet.settings")

django_application = WSGIMiddleware(
    get_wsgi_application(), workers=settings.TRADENET_WEB_THREADS, send_queue_size=10
)

from updates.asgi import EventStreamRouter  # noqa: E402  (needs the apps loaded)

application = EventStreamRouter(django_application)
