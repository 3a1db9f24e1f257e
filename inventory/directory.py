"""Stations and commodities by code, as every write through the API names them: kept by each
process for a few seconds, so that a trade does not read the same directory rows on every
request (two of its round trips to PostgreSQL).

What a process keeps is what it read, outside any transaction (a row read inside one could
still be rolled back), for at most TRADENET_DIRECTORY_SECONDS; a change saved or deleted in
this process forgets everything at once. Another process's change is seen within those
seconds: until then a renamed code still names its station there, and a trade naming a
station deleted meanwhile is refused as it would be anyway (it has no stock and no account,
or it could not have been deleted). An unknown code is always looked up.
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

    def __init__(self, model: type[Row]):
        self.model = model
        self.fields = [field.attname for field in model._meta.concrete_fields]
        self.values: dict[str, tuple] = {}
        self.read_at = 0.0

    def by_code(self, codes: Iterable[str]) -> dict[str, Row]:
        """{code: instance} for each code that exists."""
        wanted = set(codes)
        if time.monotonic() - self.read_at > settings.TRADENET_DIRECTORY_SECONDS:
            self.forget()
        known = self.values  # one dict throughout, whatever another thread does meanwhile
        missing = wanted - known.keys()
        if missing:
            rows = self.model.objects.filter(code__in=missing).values_list(*self.fields)
            found = {row[self.fields.index("code")]: tuple(row) for row in rows}
            if not connection.in_atomic_block:  # committed rows only: see the module's text
                known.update(found)
        else:
            found = {}
        return {
            code: self.model.from_db("default", self.fields, values)
            for code in wanted
            if (values := known.get(code) or found.get(code)) is not None
        }

    def forget(self, **kwargs) -> None:
        """Read everything again from the next call on (a signal receiver's signature)."""
        self.values = {}
        self.read_at = time.monotonic()


stations = Directory(Station)
commodities = Directory(Commodity)
