"""Model instances whose rows a written-out statement inserted (the hot path's INSERTs, where
the ORM's per-object preparation cost more than the statement): made the way the ORM leaves an
instance after its own INSERT, so that everything after it treats them alike."""

from __future__ import annotations

from django.db import connection
from django.db.models import Model


def as_saved(instance: Model, pk: int) -> Model:
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance
