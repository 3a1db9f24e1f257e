"""Loading stations, commodities and opening stock from the bundled galaxy or a user's file.

A file loads whole or not at all; the first bad row stops it with its row number and field.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction

from .models import Commodity, Station
from .services import stock_open

BUNDLED_GALAXY = Path(__file__).parent / "data" / "galaxy.json"
STATION_FIELDS = ("code", "name", "kind", "x", "y", "z")


class SeedError(Exception):
    def __init__(self, section: str, row: int, field: str, message: str):
        super().__init__(f"{section} row {row}, field '{field}': {message}")
        self.section, self.row, self.field = section, row, field


@dataclass
class SeedReport:
    stations_created: int = 0
    stations_updated: int = 0
    commodities_created: int = 0
    commodities_updated: int = 0
    stock_recorded: int = 0


Progress = Callable[[Iterable, str, int], Iterable]


def _no_progress(rows: Iterable, label: str, total: int) -> Iterable:
    return rows


def read_galaxy_file(path: Path) -> dict:
    """Parse a JSON galaxy ({stations, commodities, stock}) or a CSV of stations.

    A CSV has the columns code, name, kind, x, y, z; any further column is a commodity code
    whose value is that station's opening stock.
    """
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [f for f in ("code", "name") if f not in (reader.fieldnames or [])]
            if missing:
                raise SeedError("stations", 1, missing[0], "column missing from the CSV header")
            stations, stock = [], []
            for row in reader:
                stations.append(
                    {k: row.get(k) for k in STATION_FIELDS if row.get(k) not in (None, "")}
                )
                for column, value in row.items():
                    if column not in STATION_FIELDS and column and value not in (None, ""):
                        stock.append(
                            {"station": row.get("code"), "commodity": column, "quantity": value}
                        )
            return {"stations": stations, "commodities": [], "stock": stock}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SeedError("file", exc.lineno, "-", f"not valid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise SeedError("file", 1, "-", "expected an object with stations, commodities and stock")
    return data


def load_galaxy(data: dict, *, progress: Progress = _no_progress) -> SeedReport:
    report = SeedReport()
    with transaction.atomic():
        commodities = _upsert(
            Commodity,
            data.get("commodities") or [],
            ("code", "name", "unit"),
            "commodities",
            report,
            "commodities",
            progress,
        )
        stations = _upsert(
            Station,
            data.get("stations") or [],
            STATION_FIELDS,
            "stations",
            report,
            "stations",
            progress,
        )
        entries = []
        known_stations = {s.code: s for s in Station.objects.all()} | stations
        known_commodities = {c.code: c for c in Commodity.objects.all()} | commodities
        for number, row in enumerate(progress(data.get("stock") or [], "stock", 0), start=1):
            if not isinstance(row, dict):
                raise SeedError("stock", number, "-", "expected an object")
            station = known_stations.get(str(row.get("station")))
            if station is None:
                raise SeedError(
                    "stock", number, "station", f"unknown station {row.get('station')!r}"
                )
            commodity = known_commodities.get(str(row.get("commodity")))
            if commodity is None:
                raise SeedError(
                    "stock", number, "commodity", f"unknown commodity {row.get('commodity')!r}"
                )
            quantity = _quantity(row.get("quantity"), number)
            entries.append((station, commodity, quantity))
        report.stock_recorded = stock_open(entries)
    return report


def _quantity(value, number: int) -> int:
    try:
        quantity = int(str(value))
    except (TypeError, ValueError):
        raise SeedError("stock", number, "quantity", f"{value!r} is not a whole number") from None
    if not 0 <= quantity <= 10**12:
        raise SeedError("stock", number, "quantity", f"{quantity} is outside 0..10^12")
    return quantity


def _upsert(model, rows, fields, section, report, counter, progress) -> dict:
    existing = {
        obj.code: obj
        for obj in model.objects.filter(
            code__in=[str(r.get("code")) for r in rows if isinstance(r, dict)]
        )
    }
    result = {}
    for number, row in enumerate(progress(rows, section, len(rows)), start=1):
        if not isinstance(row, dict):
            raise SeedError(section, number, "-", "expected an object")
        unknown = set(row) - set(fields)
        if unknown:
            raise SeedError(section, number, sorted(unknown)[0], "unknown field")
        code = str(row.get("code") or "")
        obj = existing.get(code) or model(code=code)
        created = obj.pk is None
        for name in fields:
            if name in row:
                setattr(obj, name, row[name])
        try:
            obj.full_clean(validate_unique=False)
        except ValidationError as exc:
            field, messages = next(iter(exc.message_dict.items()))
            raise SeedError(section, number, field, " ".join(messages)) from None
        obj.save()
        result[obj.code] = obj
        setattr(
            report,
            f"{counter}_{'created' if created else 'updated'}",
            getattr(report, f"{counter}_{'created' if created else 'updated'}") + 1,
        )
    return result


def generate_stations(
    count: int, *, rng: random.Random, progress: Progress = _no_progress
) -> SeedReport:
    """Add `count` generated stations (gen-00001, ...) after any generated before, with stock."""
    taken = Station.objects.filter(code__startswith="gen-").count()
    commodities = list(Commodity.objects.all())
    kinds = [k for k, _ in Station.Kind.choices]
    stations = [
        Station(
            code=f"gen-{taken + i:05d}",
            name=f"Generated {kinds[i % 3].title()} {taken + i}",
            kind=kinds[i % 3],
            x=round(rng.uniform(-500, 500), 3),
            y=round(rng.uniform(-500, 500), 3),
            z=round(rng.uniform(-50, 50), 3),
        )
        for i in range(1, count + 1)
    ]
    report = SeedReport(stations_created=count)
    batch = 200
    with transaction.atomic():
        batches = range(0, len(stations), batch)
        for start in progress(batches, f"stations (x{batch})", len(batches)):
            created = Station.objects.bulk_create(stations[start : start + batch])
            entries = [
                (station, commodity, rng.choice([100, 250, 500, 1000]))
                for station in created
                for commodity in commodities
                if rng.random() < 0.6
            ]
            report.stock_recorded += stock_open(entries)
    return report
