from __future__ import annotations

import random
import sys
import time
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from cargo.models import Cargo
from cargo.services import shipment_update
from core.errors import DomainError
from credits.selectors import available_by_station
from inventory.models import StockLevel
from trades.consent import agreement_covering
from trades.models import Trade
from trades.services import LineSpec, trade_initiate


class Command(BaseCommand):
    help = (
        "Demo traffic: random trades between stocked stations, each inside a standing agreement "
        "the buyer granted (manage.py seed_agreements), and shipments moving along "
        "(departed, delivered, now and then cancelled or lost), through the same services as the "
        "API. Watch it on /live/. It moves only the shipments of the trades it made in this run: "
        "shipments anyone else booked are never touched."
    )

    def add_arguments(self, parser):
        parser.add_argument("--trades", type=int, default=50, help="How many trades (default 50).")
        parser.add_argument("--interval", type=float, default=0.5, help="Seconds between steps.")
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args, trades: int, interval: float, seed, **options):
        if trades < 1:
            raise CommandError("--trades must be at least 1.")
        stocked = list(
            StockLevel.objects.filter(on_hand__gt=0).select_related("station", "commodity")
        )
        stations = list({level.station for level in stocked})
        if len(stations) < 2:
            raise CommandError("Need two stocked stations: run `manage.py seed_stations` first.")
        rng = random.Random(seed)
        made = refused = moved = 0
        mine: list[int] = []  # this run's shipments (pks): the only ones it moves
        for _ in tqdm(range(trades), desc="trades", file=sys.stderr):
            level = rng.choice(stocked)
            price = Decimal(rng.randint(100, 5000)) / 100
            # Within what buyers can pay: a buyer that can afford one unit at least, and no
            # more units than it can afford (read now; a concurrent trade may still refuse it).
            spendable = available_by_station()
            buyers = [
                s for s in stations if s.pk != level.station_id and spendable.get(s.pk, 0) >= price
            ]
            if not buyers:
                refused += 1
                continue
            buyer = rng.choice(buyers)
            affordable = int(spendable[buyer.pk] // price)
            quantity = rng.randint(1, max(1, min(level.on_hand, 50, affordable)))
            lines = [LineSpec(level.commodity, quantity, price)]
            # As a seller's operator would: only inside an agreement the buyer granted.
            agreement = agreement_covering(
                seller=level.station, buyer=buyer, lines=lines, terms=Trade.Terms.SELLER_RISK
            )
            if agreement is None:
                refused += 1
                continue
            try:
                trade = trade_initiate(
                    seller=level.station, buyer=buyer, lines=lines, agreement=agreement
                )
                mine.append(trade.cargo.pk)
                made += 1
            except DomainError:
                refused += 1
            moved += self._move_some_shipments(rng, mine)
            time.sleep(interval)
        self.stdout.write(
            f"{made} trades made, {refused} refused for lack of stock, credits or an agreement, "
            f"{moved} shipment moves."
        )

    def _move_some_shipments(self, rng: random.Random, mine: list[int]) -> int:
        moves = 0
        moving = Cargo.objects.filter(pk__in=mine, status__in=["pending", "in_transit"])
        for shipment in moving.order_by("?")[:2]:
            if shipment.status == "pending":
                target = "cancelled" if rng.random() < 0.1 else "in_transit"
            else:
                target = "lost" if rng.random() < 0.05 else "delivered"
            try:
                shipment_update(shipment=shipment, status=target, note="demo traffic")
                moves += 1
            except DomainError:
                pass  # someone else moved it first
        return moves
