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
        if model is Station:
            _refuse_taken_position(obj, number)
        obj.save()
        result[obj.code] = obj
        setattr(
            report,
            f"{counter}_{'created' if created else 'updated'}",
            getattr(report, f"{counter}_{'created' if created else 'updated'}") + 1,
        )
    return result


def _refuse_taken_position(station: Station, number: int) -> None:
    """Two stations at one position would be one point on the map and zero light-years apart."""
    other = (
        Station.objects.filter(x=station.x, y=station.y, z=station.z)
        .exclude(code=station.code)
        .values_list("code", flat=True)
        .first()
    )
    if other is not None:
        raise SeedError(
            "stations",
            number,
            "x",
            f"{other} is already at ({station.x}, {station.y}, {station.z})",
        )


def generate_stations(
    count: int, *, seed: int = 0, progress: Progress = _no_progress
) -> SeedReport:
    """Upsert `count` generated stations, gen-<seed>-00001 to gen-<seed>-<count>, with stock.

    Each station is drawn from its own random stream (seed and number), so running the same
    command again upserts the same stations with the same opening stock (recorded once), and a
    larger count keeps the smaller one's stations. A drawn position another station already
    holds is drawn again: no two stations share a position.
    """
    commodities = list(Commodity.objects.order_by("code"))
    kinds = [k for k, _ in Station.Kind.choices]
    codes = [f"gen-{seed}-{i:05d}" for i in range(1, count + 1)]
    taken = set(Station.objects.exclude(code__in=codes).values_list("x", "y", "z"))
    stations, stock = [], {}
    for number, code in enumerate(codes, start=1):
        rng = random.Random(f"{seed}/{number}")
        position = _free_position(rng, taken)
        taken.add(position)
        kind = kinds[number % 3]
        stations.append(
            Station(
                code=code,
                name=f"Generated {kind.title()} {seed}-{number}",
                kind=kind,
                x=position[0],
                y=position[1],
                z=position[2],
            )
        )
        stock[code] = [
            (commodity, rng.choice([100, 250, 500, 1000]))
            for commodity in commodities
            if rng.random() < 0.6
        ]
    existing = set(Station.objects.filter(code__in=codes).values_list("code", flat=True))
    report = SeedReport(stations_created=len(set(codes) - existing), stations_updated=len(existing))
    batch = 200
    with transaction.atomic():
        batches = range(0, len(stations), batch)
        for start in progress(batches, f"stations (x{batch})", len(batches)):
            saved = Station.objects.bulk_create(
                stations[start : start + batch],
                update_conflicts=True,
                unique_fields=["code"],
                update_fields=["name", "kind", "x", "y", "z"],
            )
            entries = [
                (station, commodity, quantity)
                for station in saved
                for commodity, quantity in stock[station.code]
            ]
            report.stock_recorded += stock_open(entries)
    return report


def _free_position(rng: random.Random, taken: set) -> tuple[float, float, float]:
    while True:
        position = (
            round(rng.uniform(-500, 500), 3),
            round(rng.uniform(-500, 500), 3),
            round(rng.uniform(-50, 50), 3),
        )
        if position not in taken:
            return position
