"""Parameters for connections of their own (not Django's, not pooled): the relay's, the NOTIFY
listener's, the readiness check's."""

from __future__ import annotations

import os

from django.conf import settings


def conninfo(application_name: str = "tradenet-events-listener") -> dict:
    """psycopg connection parameters for a dedicated connection (not Django's, not pooled)."""
    db = settings.DATABASES["default"]
    params = {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
    }
    # Named like the process's other connections when PGAPPNAME says so, so they count together.
    params["application_name"] = os.environ.get("PGAPPNAME", application_name)
    options = db.get("OPTIONS", {})
    for key in ("host", "sslmode", "connect_timeout"):
        if key in options:
            params[key] = options[key]
    return {k: v for k, v in params.items() if v not in (None, "")}
