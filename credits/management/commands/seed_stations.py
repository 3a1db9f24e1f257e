from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from credits.services import OPENING_FUNDS, credits_open_funds
from inventory.models import Station
from inventory.seeding import (
    BUNDLED_GALAXY,
    SeedError,
    generate_stations,
    load_galaxy,
    read_galaxy_file,
)

PROGRESS_THRESHOLD = 200


class Command(BaseCommand):
    help = (
        "Load stations, commodities and opening stock: the bundled demo galaxy by default, or a "
        "JSON/CSV file with --file; then fund every station never funded with "
        f"{OPENING_FUNDS:,} credits from the treasury. Idempotent (upsert by code; opening "
        "stock and funds are recorded once) and atomic (a bad row loads nothing)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", type=Path, help="A .json galaxy or a .csv of stations.")
        parser.add_argument(
            "--count",
            type=int,
            default=0,
            help="Also upsert N generated stations (gen-<seed>-00001 ...); the same again is a "
            "no-op.",
        )
        parser.add_argument(
            "--seed", type=int, default=0, help="Which generated galaxy --count draws (default 0)."
        )
        parser.add_argument(
            "--funds",
            type=int,
            default=int(OPENING_FUNDS),
            help=f"Credits each new station starts with (default {OPENING_FUNDS:,.0f}; 0: none).",
        )
        parser.add_argument("--no-progress", action="store_true", help="Hide progress bars.")

    def handle(
        self, *args, file: Path | None, count: int, seed, funds: int, no_progress: bool, **options
    ):
        if count < 0:
            raise CommandError("--count must be zero or more.")
        if funds < 0:
            raise CommandError("--funds must be zero or more.")
        path = file or BUNDLED_GALAXY
        if not path.exists():
            raise CommandError(f"No such file: {path}. Pass a .json or .csv file to --file.")

        def progress_for(size: int):
            """Bars only for large jobs (PROGRESS_THRESHOLD rows or more)."""
            show = not no_progress and size >= PROGRESS_THRESHOLD

            def progress(rows, label, total):
                return tqdm(
                    rows, desc=label, total=total or None, disable=not show, file=sys.stderr
                )

            return progress

        try:
            data = read_galaxy_file(path)
            size = sum(len(data.get(part) or []) for part in ("stations", "commodities", "stock"))
            report = load_galaxy(data, progress=progress_for(size))
        except SeedError as exc:
            raise CommandError(f"{path}: {exc}. Nothing was loaded.") from exc
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"{path}: not UTF-8 text ({exc.reason}). Nothing was loaded."
            ) from exc
        self.stdout.write(
            f"{path.name}: stations {report.stations_created} created, "
            f"{report.stations_updated} updated; commodities {report.commodities_created} created, "
            f"{report.commodities_updated} updated; opening stock entries recorded: "
            f"{report.stock_recorded}."
        )
        if count:
            generated = generate_stations(count, seed=seed, progress=progress_for(count))
            self.stdout.write(
                f"Generated stations (seed {seed}): {generated.stations_created} created, "
                f"{generated.stations_updated} updated; opening stock entries recorded: "
                f"{generated.stock_recorded}."
            )
        if funds:
            stations = list(Station.objects.order_by("pk"))
            funded = credits_open_funds(
                stations=progress_for(len(stations))(stations, "funds", len(stations)),
                amount=Decimal(funds),
            )
            self.stdout.write(f"Opening funds of {funds:,} credits: {funded} stations funded.")
