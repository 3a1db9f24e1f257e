"""Settings for the test suite: pytest-django's DJANGO_SETTINGS_MODULE, and the server
processes the tests start (tests/servers.py sets it for them).

The production settings, with what tests need changed, said here rather than by detecting a
test run inside the production settings. Tests that check the production configuration itself
start their processes with `tradenet.settings` (tests/deploy/test_deployment.py).
"""

import os

# Before the production settings, which refuse to start without a key when DEBUG is off.
os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-" + "k" * 50)

from tradenet.settings import *  # noqa: F403
from tradenet.settings import ALLOWED_HOSTS, DATABASES, STORAGES, env_bool

ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver", "localhost", "127.0.0.1"]

# Hashing cost is irrelevant to what the tests check and dominates their run time.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Static files straight from the apps: no collectstatic before every run.
STATIC_ROOT = None
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# One connection per thread, as Django does by default; a test that wants the production pool
# (the outage tests) sets TRADENET_DB_POOL=1.
TRADENET_DB_POOL = env_bool("TRADENET_DB_POOL", default=False)
if not TRADENET_DB_POOL:
    DATABASES["default"]["OPTIONS"].pop("pool", None)
    DATABASES["default"].pop("CONN_MAX_AGE", None)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if "replica" in DATABASES:
        DATABASES["replica"]["OPTIONS"].pop("pool", None)
        DATABASES["replica"].pop("CONN_MAX_AGE", None)

# Plain HTTP on loopback: no HTTPS redirect, cookies over HTTP, no HSTS (unless a test asks).
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", default=False)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "0"))
