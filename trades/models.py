from __future__ import annotations

import secrets
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import ExpressionWrapper, F, Q, Sum, Value
from django.db.models.functions import Coalesce, Upper
from django.utils import timezone


def new_transaction_id() -> str:
    return f"txn-{secrets.token_hex(8)}"


def new_proposal_id() -> str:
    return f"prop-{secrets.token_hex(8)}"


def new_agreement_id() -> str:
    return f"agr-{secrets.token_hex(8)}"


# Credits in an agreement's caps and a proposal's figures: as wide as a trade's total.
CREDITS = {"max_digits": 32, "decimal_places": 2}


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
    # The standing agreement under which the buyer's operators consented to this trade's debit
    # (trades.consent); empty when they, or dispatch staff, consented themselves.
    agreement = models.ForeignKey(
        "trades.Agreement",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="trades",
        db_index=False,  # indexed below, for the agreement's uses
        editable=False,
    )
    # Set once, by trades.placement.place, when the lines exist and the trade takes effect.
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
            # An agreement's uses, newest first (most trades have none: a partial index).
            models.Index(
                fields=["agreement", "-created_at", "-id"],
                name="trade_agreement_idx",
                condition=Q(agreement__isnull=False),
            ),
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

    def remember_lines(self, lines: list[TradeLine]) -> None:
        """Keep the lines just written as if prefetched: placing, the events and the API's
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

    # A retry must find the answer its first attempt wrote a moment ago, which a replica may
    # not have replayed yet (core.replica.replica_readable).
    read_on_primary_only = True

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


class Agreement(models.Model):
    """A buyer's standing consent to be debited for a seller's trades, within limits.

    Granted by the buyer's operators (or dispatch staff) to one seller; a trade inside it commits
    in one request without the buyer answering (trades.consent). `outstanding` is what the
    buyer owes on its trades still under way: raised when one is placed and lowered when it
    ends, in the trade's transaction and after its accounts are locked, so concurrent trades
    never pass the cap together (docs/domain.md#consent).
    """

    agreement_id = models.CharField(
        max_length=40, unique=True, default=new_agreement_id, editable=False
    )
    buyer = models.ForeignKey(
        "inventory.Station",
        on_delete=models.PROTECT,
        related_name="agreements_granted",
        help_text="The station whose credits the agreement lets the seller's trades commit.",
    )
    seller = models.ForeignKey(
        "inventory.Station",
        on_delete=models.PROTECT,
        related_name="agreements_held",
        db_index=False,  # (seller, buyer) below
    )
    commodities = models.ManyToManyField(
        "inventory.Commodity",
        blank=True,
        related_name="+",
        help_text="The commodities it covers; none means every commodity.",
    )
    max_unit_price = models.DecimalField(
        max_digits=14, decimal_places=2, help_text="The highest unit price it accepts."
    )
    max_trade_total = models.DecimalField(help_text="The most one trade may cost.", **CREDITS)
    max_outstanding = models.DecimalField(
        help_text="The most its trades still under way may cost together.", **CREDITS
    )
    outstanding = models.DecimalField(
        default=Decimal("0.00"),
        editable=False,
        help_text="What its trades still under way cost together.",
        **CREDITS,
    )
    allow_buyer_risk = models.BooleanField(
        default=False, help_text="Whether its trades may be at the buyer's risk."
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["seller", "buyer"], name="agreement_seller_buyer_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(seller=F("buyer")), name="agreement_seller_not_buyer"
            ),
            models.CheckConstraint(
                condition=Q(outstanding__gte=0), name="agreement_outstanding_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(max_unit_price__gte=0, max_trade_total__gte=0, max_outstanding__gte=0),
                name="agreement_limits_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.agreement_id

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class Proposal(models.Model):
    """A trade offered by one side's operators, waiting for the other side's.

    It holds nothing of either side: on acceptance the trade is placed, in the accepting
    transaction, exactly as `POST /api/trades/` places one (the stock leaves the seller, the
    buyer's credits are held), or the acceptance is refused with nothing changed. An
    unanswered proposal expires at `expires_at` (TRADENET_PROPOSAL_TTL_SECONDS).
    """

    class Side(models.TextChoices):
        SELLER = "seller", "Seller"
        BUYER = "buyer", "Buyer"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        WITHDRAWN = "withdrawn", "Withdrawn"
        EXPIRED = "expired", "Expired"

    proposal_id = models.CharField(
        max_length=40, unique=True, default=new_proposal_id, editable=False
    )
    seller = models.ForeignKey(
        "inventory.Station", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    buyer = models.ForeignKey(
        "inventory.Station", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    proposed_by_side = models.CharField(max_length=8, choices=Side.choices)
    terms = models.CharField(
        max_length=16, choices=Trade.Terms.choices, default=Trade.Terms.SELLER_RISK
    )
    # [{"commodity": code, "quantity": n, "unit_price": "1.00"}]: what the trade will carry.
    items = models.JSONField()
    total = models.DecimalField(**CREDITS)
    note = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    trade = models.OneToOneField(
        Trade, on_delete=models.PROTECT, null=True, blank=True, related_name="proposal"
    )
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["seller", "status", "-created_at"], name="proposal_seller_idx"),
            models.Index(fields=["buyer", "status", "-created_at"], name="proposal_buyer_idx"),
            # The expiry sweep: open proposals by when they lapse.
            models.Index(
                fields=["expires_at"],
                name="proposal_open_expiry_idx",
                condition=Q(status="open"),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(seller=F("buyer")), name="proposal_seller_not_buyer"
            ),
            models.CheckConstraint(
                condition=Q(status="accepted", trade__isnull=False)
                | (~Q(status="accepted") & Q(trade__isnull=True)),
                name="proposal_trade_iff_accepted",
            ),
        ]

    def __str__(self) -> str:
        return self.proposal_id

    @property
    def answering_side(self) -> str:
        """The side whose operators accept or decline it."""
        return self.Side.BUYER if self.proposed_by_side == self.Side.SELLER else self.Side.SELLER

    def station_of(self, side: str):
        return self.seller if side == self.Side.SELLER else self.buyer

    def current_status(self, now=None) -> str:
        """Its status as of now: an open proposal past its expiry is expired, swept or not."""
        if self.status == self.Status.OPEN and self.expires_at <= (now or timezone.now()):
            return self.Status.EXPIRED
        return self.status
