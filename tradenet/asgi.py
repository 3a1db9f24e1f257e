import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradenet.settings")

django_application = get_asgi_application()

from updates.asgi import EventStreamRouter  # noqa: E402  (needs the apps loaded)

application = EventStreamRouter(django_application)
