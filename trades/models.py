from __future__ import annotations

import secrets
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import ExpressionWrapper, F, Q, Sum, Value
from django.db.models.functions import Coalesce, Upper


def new_transaction_id() -> str:
    return f"txn-{secrets.token_hex(8)}"


class Trade(models.Model):
    class Status(models.TextChoices):
        INITIATED = "initiated", "Initiated"
        IN_TRANSIT = "in_transit", "In transit"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"

    transaction_id = models.CharField(
        max_length=40, unique=True, default=new_transaction_id, editable=False
    )
    # Indexed below with the list's order (seller, -created_at, -id), which also serves the
    # foreign key; a plain index on the column alone would only cost every write.
    seller = models.ForeignKey(
        "inventory.Station", on_delete=models.PROTECT, related_name="sales", db_index=False
    )
    buyer = models.ForeignKey(
        "inventory.Station", on_delete=models.PROTECT, related_name="purchases", db_index=False
    )

    class Terms(models.TextChoices):
        # Who bears a lost shipment (credits.services.RESOLUTION): at the seller's risk the
        # buyer's hold is released; at the buyer's it is paid.
        SELLER_RISK = "seller_risk", "Seller's risk"
        BUYER_RISK = "buyer_risk", "Buyer's risk"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.INITIATED)
    terms = models.CharField(max_length=16, choices=Terms.choices, default=Terms.SELLER_RISK)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="trades_created",
    )
    # Set once, by trades.services.trade_place, when the lines exist and the trade takes effect.
    placed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # Every filter of the list meets an index in the list's order, so a page costs the
        # same at a million trades as at ten thousand (bench/list_scaling.py).
        indexes = [
            models.Index(fields=["seller", "-created_at", "-id"], name="trade_seller_idx"),
            models.Index(fields=["buyer", "-created_at", "-id"], name="trade_buyer_idx"),
            models.Index(fields=["status", "-created_at", "-id"], name="trade_status_idx"),
            # A station's trades in one status (?station=&status=, an operator's ?status=):
            # found from their own rows even where the station has none in that status,
            # instead of intersecting all the station's trades with all of the status's.
            models.Index(
                fields=["seller", "status", "-created_at", "-id"], name="trade_seller_status_idx"
            ),
            models.Index(
                fields=["buyer", "status", "-created_at", "-id"], name="trade_buyer_status_idx"
            ),
            # ?search= a transaction id, in any case
            models.Index(Upper("transaction_id"), name="trade_transaction_id_upper_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(seller=F("buyer")),
                name="trade_seller_not_buyer",
                violation_error_message="The buyer must be a different station from the seller.",
            ),
        ]

    def __str__(self) -> str:
        return self.transaction_id

    @property
    def total(self) -> Decimal:
        # lines.all(): served from a prefetch when the caller made one (lists), no query per trade.
        return lines_total(self.lines.all())

    def is_being_placed(self, update_fields) -> bool:
        """True for the one save that places the trade (trades.services): the save the cargo and
        inventory receivers react to."""
        return bool(update_fields) and "placed_at" in update_fields and self.placed_at is not None

    def remember_lines(self, lines: list[TradeLine]) -> None:
        """Keep the lines just written as if prefetched: the receivers, the events and the API's
        answer then use them without reading them back."""
        queryset = self.lines.all()
        queryset._result_cache = list(lines)
        queryset._prefetch_done = True
        self._prefetched_objects_cache = {"lines": queryset}

    def line_items(self) -> list[TradeLine]:
        """The lines with their commodities: remembered or prefetched ones, else one query."""
        if "lines" in getattr(self, "_prefetched_objects_cache", {}):
            return list(self.lines.all())
        return list(self.lines.select_related("commodity"))


def lines_total(lines) -> Decimal:
    """A trade's total in credits: the sum of its lines' subtotals (`total_expression` is the
    same sum in SQL, for sorting and filtering; a test holds them equal)."""
    return sum((line.subtotal for line in lines), Decimal("0.00"))


def total_expression() -> Sum:
    """A trade's total in credits, computed by PostgreSQL (see `lines_total`)."""
    subtotal = ExpressionWrapper(
        F("lines__quantity") * F("lines__unit_price"),
        output_field=models.DecimalField(max_digits=24, decimal_places=2),
    )
    return Coalesce(Sum(subtotal), Value(Decimal("0.00")))


class TradeLine(models.Model):
    trade = models.ForeignKey(Trade, on_delete=models.CASCADE, related_name="lines")
    # Indexed with the trade's status below, which also serves the foreign key.
    commodity = models.ForeignKey(
        "inventory.Commodity", on_delete=models.PROTECT, related_name="trade_lines", db_index=False
    )
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=14, decimal_places=2, help_text="Credits per unit.")
    # The trade's status, copied onto its lines (trades.services.trade_set_status) so that a
    # commodity and a status meet in one index and one set of statistics: a list of trades of
    # some status carrying some commodity then costs what it finds, even where the two never
    # meet (PostgreSQL cannot estimate a combination across two tables, and walked every trade
    # of the status probing its lines: bench/list_scaling.py, data set "correlated").
    trade_status = models.CharField(
        max_length=16, choices=Trade.Status.choices, default=Trade.Status.INITIATED, editable=False
    )

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["commodity", "trade_status"], name="trade_line_commodity_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["trade", "commodity"], name="trade_line_commodity_once"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="trade_line_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="trade_line_price_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.commodity_id} @ {self.unit_price}"

    @property
    def subtotal(self) -> Decimal:
        return (self.unit_price or Decimal(0)) * (self.quantity or 0)


class IdempotencyRecord(models.Model):
    """The first answer to a POST made with an Idempotency-Key, replayed to its retries."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="idempotency_records"
    )
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"
