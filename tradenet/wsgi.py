"""The WSGI application: `gunicorn tradenet.wsgi:application` and `manage.py runserver`
(docs/deployment.md#entry-points). The API, admin, pages and probes; event streams and the
relay need the ASGI server (tradenet/asgi.py), or `manage.py deliver` beside this one."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradenet.settings")

application = get_wsgi_application()
