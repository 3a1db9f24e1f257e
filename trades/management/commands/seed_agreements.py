from __future__ import annotations

import sys
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from inventory.models import Station
from trades.agreements import agreement_grant
from trades.models import Agreement

# The demo's standing agreements: every trade demo_traffic makes (at most 50 units at 50.00)
# fits one, and a station's trades under way with one partner never pass a fifth of its
# opening funds (credits.services.OPENING_FUNDS), at the seller's risk only.
MAX_UNIT_PRICE = Decimal("100.00")
MAX_TRADE_TOTAL = Decimal("5000.00")
MAX_OUTSTANDING = Decimal("20000.00")


class Command(BaseCommand):
    help = (
        "Grant standing agreements between the demo galaxy's stations: each station lets "
        f"each other one's trades debit it up to {MAX_TRADE_TOTAL:,} a trade and "
        f"{MAX_OUTSTANDING:,} under way, {MAX_UNIT_PRICE} a unit at most, at the seller's risk "
        "only. Idempotent: a pair that already has an agreement in force gets no second. For "
        "demos: in production each station's operators grant their own (/api/agreements/)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--max-stations",
            type=int,
            default=50,
            help="Only the first N stations by code (pairs grow as N²; default 50).",
        )
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, max_stations: int, no_progress: bool, **options):
        if max_stations < 2:
            raise CommandError("--max-stations must be at least 2.")
        stations = list(Station.objects.order_by("code")[:max_stations])
        existing = set(
            Agreement.objects.filter(revoked_at__isnull=True, expires_at__isnull=True).values_list(
                "buyer_id", "seller_id"
            )
        )
        pairs = [
            (buyer, seller)
            for buyer in stations
            for seller in stations
            if buyer.pk != seller.pk and (buyer.pk, seller.pk) not in existing
        ]
        for buyer, seller in tqdm(
            pairs, desc="agreements", disable=no_progress or len(pairs) < 200, file=sys.stderr
        ):
            agreement_grant(
                buyer=buyer,
                seller=seller,
                max_unit_price=MAX_UNIT_PRICE,
                max_trade_total=MAX_TRADE_TOTAL,
                max_outstanding=MAX_OUTSTANDING,
            )
        self.stdout.write(f"Standing agreements: {len(pairs)} granted.")
