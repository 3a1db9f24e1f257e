"""Trade services: the one way a trade is created, placed, and moved through its statuses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from core import events
from core.actors import Actor, user_or_none
from core.written import as_saved
from credits.selectors import settlement_of
from inventory.models import Commodity, Station
from trades.events import TRADE_INITIATED, TRADE_STATUS_CHANGED

from . import consent, placement, settlement
from .errors import AlreadyPlaced
from .models import Agreement, Trade, TradeLine, lines_total

MAX_LINE_QUANTITY = 1_000_000_000
MAX_UNIT_PRICE = Decimal("999999999999.99")


@dataclass(frozen=True)
class LineSpec:
    commodity: Commodity
    quantity: int
    unit_price: Decimal

    @property
    def subtotal(self) -> Decimal:  # as TradeLine's, so that lines_total sums either
        return self.unit_price * self.quantity


def trade_validate(*, seller: Station, buyer: Station, lines: Sequence[LineSpec]) -> None:
    """Raise ValidationError with field-level messages for a trade that cannot exist."""
    errors: dict[str, list[str]] = {}
    if seller is not None and buyer is not None and seller.pk == buyer.pk:
        errors.setdefault("buyer", []).append(
            "The buyer must be a different station from the seller."
        )
    if not lines:
        errors.setdefault("items", []).append("A trade needs at least one line.")
    seen: set[int] = set()
    for line in lines:
        if line.commodity.pk in seen:
            errors.setdefault("items", []).append(
                f"Commodity {line.commodity.code} appears more than once; put it on one line."
            )
        seen.add(line.commodity.pk)
        if not 0 < line.quantity <= MAX_LINE_QUANTITY:
            errors.setdefault("items", []).append(
                f"Quantity of {line.commodity.code} must be between 1 and {MAX_LINE_QUANTITY}."
            )
        if not Decimal(0) <= line.unit_price <= MAX_UNIT_PRICE:
            errors.setdefault("items", []).append(
                f"Unit price of {line.commodity.code} must be between 0 and {MAX_UNIT_PRICE}."
            )
    if errors:
        raise ValidationError(errors)


def trade_initiate(
    *,
    seller: Station,
    buyer: Station,
    lines: Sequence[LineSpec],
    actor: Actor = None,
    terms: str = Trade.Terms.SELLER_RISK,
    agreement: Agreement | None = None,
) -> Trade:
    """Record a trade, ship its goods and move the stock, all in one transaction.

    `actor` acts for the seller; the buyer consents through `actor` too (their operator, or
    dispatch staff) or through an agreement it granted the seller (trades.consent): the
    `agreement` named, or one found that covers the trade. Raises
    NotOperator or ConsentRequired (403s) without that say, ValidationError for an impossible
    trade, InsufficientStock when the seller lacks any line's goods, InsufficientCredits when
    the buyer cannot pay and AgreementExhausted when the agreement's cap would be passed; in
    every case nothing is written. The returned trade carries its lines, shipment, stations and
    settlement, so callers can answer without reading them back.
    """
    consent.require_operator(actor, seller, "selling")
    trade_validate(seller=seller, buyer=buyer, lines=lines)
    buyer_says = consent.buyer_consent(
        actor=actor, seller=seller, buyer=buyer, lines=lines, terms=terms, agreement=agreement
    )
    return _initiate(seller, buyer, lines, terms, user_or_none(actor), buyer_says)


def _initiate(
    seller: Station,
    buyer: Station,
    lines: Sequence[LineSpec],
    terms: str,
    created_by: User | None,
    buyer_says: consent.Consent,
) -> Trade:
    with transaction.atomic(), events.batch():
        trade = _record(seller, buyer, terms, created_by, lines, buyer_says.agreement)
        # A trade nobody else has seen yet: no lock or re-check needed before placing it.
        _place(trade, buyer_says)
    return trade


def _record(
    seller: Station,
    buyer: Station,
    terms: str,
    created_by: User | None,
    lines: Sequence[LineSpec],
    agreement: Agreement | None = None,
) -> Trade:
    """The trade and its lines, written in one statement, kept on the trade as if prefetched."""
    now = timezone.now()
    trade = Trade(
        seller=seller,
        buyer=buyer,
        terms=terms,
        agreement=agreement,
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    rows = [
        TradeLine(
            trade=trade,
            commodity=line.commodity,
            quantity=line.quantity,
            unit_price=line.unit_price,
            trade_status=trade.status,
        )
        for line in lines
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            RECORD,
            {
                "transaction_id": trade.transaction_id,
                "seller": seller.pk,
                "buyer": buyer.pk,
                "status": trade.status,
                "terms": terms,
                "created_by": getattr(created_by, "pk", None),
                "agreement": getattr(agreement, "pk", None),
                "now": now,
                "commodity": [row.commodity_id for row in rows],
                "quantity": [row.quantity for row in rows],
                "unit_price": [row.unit_price for row in rows],
            },
        )
        ids = cursor.fetchall()
    as_saved(trade, ids[0][0])
    for row, (trade_id, pk) in zip(rows, ids, strict=True):
        row.trade_id = trade_id
        as_saved(row, pk)
    trade.remember_lines(rows)
    return trade


# The ORM's create and bulk_create of a trade and its lines were a tenth of a worker's time
# answering trades, and two round trips. Placing the trade (trades.placement) is another step.
RECORD = f"""
WITH trade AS (
    INSERT INTO {Trade._meta.db_table}
        (transaction_id, seller_id, buyer_id, status, terms, created_by_id, agreement_id,
         placed_at, created_at, updated_at)
    VALUES (%(transaction_id)s, %(seller)s, %(buyer)s, %(status)s, %(terms)s,
            %(created_by)s::bigint, %(agreement)s::bigint, NULL, %(now)s, %(now)s)
    RETURNING id
)
INSERT INTO {TradeLine._meta.db_table} (trade_id, commodity_id, quantity, unit_price, trade_status)
SELECT trade.id, line.commodity, line.quantity, line.unit_price, %(status)s
FROM trade, unnest(%(commodity)s::bigint[], %(quantity)s::integer[], %(unit_price)s::numeric[])
    WITH ORDINALITY AS line(commodity, quantity, unit_price, n)
ORDER BY line.n
RETURNING trade_id, id
"""


def trade_place(*, trade: Trade, actor: Actor = None) -> Trade:
    """Make a trade whose lines exist take effect, exactly once (the admin, after its inlines),
    with the same say from each side as `trade_initiate` asks.

    Placing runs its stages (trades.placement: the stock, the credits, the shipment) inside
    this transaction.
    """
    with transaction.atomic(), events.batch():
        locked = Trade.objects.select_for_update().get(pk=trade.pk)
        if locked.placed_at is not None:
            raise AlreadyPlaced(f"Trade {trade.transaction_id} has already been placed.")
        lines = list(trade.lines.select_related("commodity"))
        if not lines:
            raise ValidationError({"items": ["A trade needs at least one line."]})
        consent.require_operator(actor, trade.seller, "selling")
        buyer_says = consent.buyer_consent(
            actor=actor, seller=trade.seller, buyer=trade.buyer, lines=lines, terms=trade.terms
        )
        if trade.created_by_id is None and actor is not None:
            trade.created_by = user_or_none(actor)
        if buyer_says.agreement is not None:
            trade.agreement = buyer_says.agreement
            trade.save(update_fields=["agreement"])
        _place(trade, buyer_says)
    return trade


def _place(trade: Trade, buyer_says: consent.Consent) -> None:
    placement.place(trade, buyer_says)  # the stock, the credits, the shipment, in that order
    shipment = getattr(trade, "cargo", None)  # created by the cargo app's stage just now
    events.announce(
        events.DomainEvent(
            type=TRADE_INITIATED,
            payload=trade_event_payload(trade),
            stations=(trade.seller.code, trade.buyer.code),
            shipment_id=shipment.shipment_id if shipment is not None else None,
        )
    )


def trade_set_status(*, trade: Trade, status: str, actor: Actor = None) -> Trade:
    """Move a trade along with its shipment. Only the cargo services call this: a trade's status
    follows its shipment's, whose transitions they check (cargo.services)."""
    previous = trade.status
    trade.status = status
    trade.save(update_fields=["status", "updated_at"])
    TradeLine.objects.filter(trade=trade).update(trade_status=status)  # see TradeLine
    settlement.resolve(trade=trade, actor=actor)  # posted or voided once it ends
    events.announce(
        events.DomainEvent(
            type=TRADE_STATUS_CHANGED,
            payload={**trade_event_payload(trade), "previous_status": previous},
            stations=(trade.seller.code, trade.buyer.code),
            shipment_id=trade.cargo.shipment_id,
        )
    )
    return trade


def trade_event_payload(trade: Trade) -> dict[str, Any]:
    lines = trade.line_items()
    return {
        "transaction_id": trade.transaction_id,
        "status": trade.status,
        "seller": trade.seller.code,
        "buyer": trade.buyer.code,
        "items": [
            {
                "commodity": line.commodity.code,
                "quantity": line.quantity,
                "unit_price": str(line.unit_price),
            }
            for line in lines
        ],
        "total": str(lines_total(lines)),
        "terms": trade.terms,
        "agreement": trade.agreement.agreement_id if trade.agreement is not None else None,
        "settlement": settlement_of(trade),
        "shipment_id": getattr(getattr(trade, "cargo", None), "shipment_id", None),
    }
