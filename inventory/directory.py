"""Stations and commodities by code, as every write through the API names them: kept by each
process for a few seconds, so that a trade does not read the same directory rows on every
request (two of its round trips to PostgreSQL).

A process reads the whole directory (up to Directory.WHOLE rows) in one query, outside any
transaction (a row read inside one could still be rolled back), and again after
TRADENET_DIRECTORY_SECONDS; a change saved or deleted in this process forgets everything at
once. Another process's change is seen within those
seconds: until then a renamed code still names its station there, and a trade naming a
station deleted meanwhile is refused as it would be anyway (it has no stock and no account,
or it could not have been deleted). A code it does not know (new, or unknown) is looked up
every time it is asked.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Generic, TypeVar

from django.conf import settings
from django.db import connection, models

from .models import Commodity, Station

Row = TypeVar("Row", bound=models.Model)


class Directory(Generic[Row]):
    """One model's rows by code, as field values (each caller gets instances of its own)."""

    # Read whole when at most this many rows: one query every few seconds per process, however
    # many codes the trades name. A bigger directory is read code by code as they are asked.
    WHOLE = 10_000

    def __init__(self, model: type[Row]):
        self.model = model
        self.fields = [field.attname for field in model._meta.concrete_fields]
        self.code_at = self.fields.index("code")
        self.values: dict[str, tuple] = {}
        self.read_at = float("-inf")

    def by_code(self, codes: Iterable[str]) -> dict[str, Row]:
        """{code: instance} for each code that exists."""
        wanted = set(codes)
        known = self._current()  # one dict throughout, whatever another thread does meanwhile
        missing = wanted - known.keys()
        found = {}
        if missing:  # new since the directory was read, or unknown: asked every time
            rows = self.model.objects.filter(code__in=missing).values_list(*self.fields)
            found = {row[self.code_at]: tuple(row) for row in rows}
            if not connection.in_atomic_block:  # committed rows only: see the module's text
                known.update(found)
        return {
            code: self.model.from_db("default", self.fields, values)
            for code in wanted
            if (values := known.get(code) or found.get(code)) is not None
        }

    def _current(self) -> dict[str, tuple]:
        if time.monotonic() - self.read_at <= settings.TRADENET_DIRECTORY_SECONDS:
            return self.values
        if connection.in_atomic_block:
            return {}  # read inside a transaction: nothing kept, every code asked
        rows = list(self.model.objects.values_list(*self.fields)[: self.WHOLE + 1])
        whole = len(rows) <= self.WHOLE
        self.values = {row[self.code_at]: tuple(row) for row in rows} if whole else {}
        self.read_at = time.monotonic()
        return self.values

    def forget(self, **kwargs) -> None:
        """Read everything again at the next call (a signal receiver's signature)."""
        self.values = {}
        self.read_at = float("-inf")


stations = Directory(Station)
commodities = Directory(Commodity)
