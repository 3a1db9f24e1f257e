"""Whose say commits a station's goods and credits to a trade: the one place these rules live
(docs/domain.md#consent).

A trade moves the seller's goods and the buyer's credits. Each side commits only by its own
say: its operators acting (placing, proposing or accepting), dispatch staff, or, for the
buyer, a standing agreement it granted the seller. A caller with no user is the server itself
(a manage.py command, run by whoever runs the server) and needs no one's say.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import OuterRef, Q
from django.db.models.functions import Now

from core.actors import user_or_none
from credits.models import Transfer
from inventory.access import acts_for_all_stations, may_act_for
from inventory.models import Station

from .errors import AgreementExhausted, ConsentRequired, NotOperator
from .models import Agreement, Trade, lines_total

Kind = Transfer.Consent


@dataclass(frozen=True)
class Consent:
    """Whose say let the buyer's debit commit, as the ledger records it (credits.Transfer)."""

    kind: str
    user_id: int | None = None  # who gave it: the operator, the dispatcher, the grantor
    agreement: Agreement | None = None


def require_operator(actor, station: Station, role: str) -> None:
    """NotOperator (a 403) unless `actor` may act for `station` (the trade's `role`)."""
    if user_or_none(actor) is not None and not may_act_for(actor, station):
        raise NotOperator(f"You do not operate {station.code}, the {role} station.")


def own_say(actor, station: Station) -> Consent | None:
    """The consent `actor` gives for `station` by acting: none if they may not act for it."""
    user = user_or_none(actor)
    if user is None:
        return Consent(Kind.SYSTEM)
    if acts_for_all_stations(user):
        return Consent(Kind.DISPATCH, user.pk)
    if may_act_for(user, station):
        return Consent(Kind.OPERATOR, user.pk)
    return None


def buyer_consent(
    *,
    actor,
    seller: Station,
    buyer: Station,
    lines: Sequence,
    terms: str,
    agreement: Agreement | None = None,
) -> Consent:
    """The buyer's consent to a trade `actor` places for the seller: the `agreement` named,
    else their own say, else an agreement the buyer granted the seller that covers it.
    ConsentRequired (a 403) otherwise, saying how to get it."""
    if agreement is not None:
        if not (agreement.seller_id == seller.pk and agreement.buyer_id == buyer.pk):
            raise ConsentRequired(
                f"Agreement {agreement.agreement_id} is not {buyer.code}'s with {seller.code}.",
                buyer=buyer.code,
            )
        covering = agreement_covering(seller=seller, buyer=buyer, lines=lines, terms=terms)
        if covering is None or covering.pk != agreement.pk:
            raise AgreementExhausted(
                f"Agreement {agreement.agreement_id} does not cover this trade.",
                agreement=agreement.agreement_id,
            )
        return Consent(Kind.AGREEMENT, agreement.granted_by_id, agreement)
    consent = own_say(actor, buyer)
    if consent is not None:
        return consent
    agreement = agreement_covering(seller=seller, buyer=buyer, lines=lines, terms=terms)
    if agreement is None:
        raise ConsentRequired(
            f"{buyer.code} has not consented to this trade: no agreement it granted "
            f"{seller.code} covers it. Propose it instead (POST /api/proposals/) for "
            f"{buyer.code}'s operators to accept, or ask them for an agreement.",
            buyer=buyer.code,
        )
    return Consent(Kind.AGREEMENT, agreement.granted_by_id, agreement)


def agreement_covering(
    *, seller: Station, buyer: Station, lines: Sequence, terms: str
) -> Agreement | None:
    """The oldest of the buyer's active agreements with the seller whose limits this trade
    keeps, as read now (one query). Its cap on what is outstanding is checked again, under
    the trade's locks, when the trade takes it (`agreement_take`)."""
    total = lines_total(lines)
    highest = max((line.unit_price for line in lines), default=Decimal(0))
    commodities = {line.commodity.pk for line in lines}
    sql, params, fields = _covering_statement(terms == Trade.Terms.BUYER_RISK)
    given = {SELLER: seller.pk, BUYER: buyer.pk, HIGHEST: highest, TOTAL: total}
    params = tuple(given.get(value, value) if _is_placeholder(value) else value for value in params)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    for row in rows:
        agreement = Agreement.from_db(connection.alias, fields, row[:-1])
        covered = set(row[-1])
        if covered and not commodities <= covered:
            continue
        if agreement.outstanding + total > agreement.max_outstanding:
            continue
        return agreement
    return None


# Where the statement below takes a trade's figures among its parameters: values no trade has.
SELLER, BUYER = -2_107_030_401, -2_107_030_402
HIGHEST, TOTAL = Decimal("-2107030.41"), Decimal("-2107030.42")


def _is_placeholder(value) -> bool:
    return isinstance(value, int | Decimal) and value in (SELLER, BUYER, HIGHEST, TOTAL)


@cache
def _covering_statement(buyer_risk: bool) -> tuple[str, tuple, list[str]]:
    """The ORM's statement for the agreements that may cover a trade, composed once per process
    for each of the terms (composing it was a fifth of a worker's time answering a trade inside
    an agreement: docs/performance.md#consent); run with the trade's figures in place of the
    placeholders above. Its rows: the agreement's columns, then the commodities it covers."""
    fields = [field.attname for field in Agreement._meta.concrete_fields]
    covers = Agreement.commodities.through.objects.filter(agreement_id=OuterRef("pk"))
    candidates = (
        Agreement.objects.filter(seller_id=SELLER, buyer_id=BUYER, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=Now()))
        .filter(max_unit_price__gte=HIGHEST, max_trade_total__gte=TOTAL)
        # A subquery rather than a join and ARRAY_AGG: no GROUP BY for PostgreSQL to plan and
        # run on every trade (the agreement is one row; its commodities are few).
        .annotate(covered=ArraySubquery(covers.values("commodity_id")))
        .order_by("created_at", "id")
        .values_list(*fields, "covered")
    )
    if buyer_risk:
        candidates = candidates.filter(allow_buyer_risk=True)
    sql, params = candidates.query.sql_with_params()
    return sql, params, fields


# The agreement's cap, checked and taken in one statement. Run after the trade's accounts are
# locked (stock, then accounts, then the agreement: the order every path takes), so concurrent
# trades under one agreement pass the cap one at a time, and a revocation committed first is
# seen (the UPDATE re-reads the row it waited for).
TAKE = """
UPDATE trades_agreement SET outstanding = outstanding + %(amount)s
WHERE id = %(agreement)s AND revoked_at IS NULL
    AND (expires_at IS NULL OR expires_at > statement_timestamp())
    AND outstanding + %(amount)s <= max_outstanding
RETURNING id
"""
RELEASE = """
UPDATE trades_agreement SET outstanding = outstanding - %(amount)s WHERE id = %(agreement)s
"""


def agreement_take(*, agreement: Agreement, amount: Decimal) -> None:
    """Count `amount` as outstanding under `agreement`, or AgreementExhausted (a 409) if it is
    revoked, expired, or its cap would be passed."""
    with connection.cursor() as cursor:
        cursor.execute(TAKE, {"agreement": agreement.pk, "amount": amount})
        taken = cursor.fetchone()
    if taken is None:
        raise AgreementExhausted(
            f"Agreement {agreement.agreement_id} no longer covers this trade: it was revoked, "
            f"expired, or its trades under way would pass its cap of "
            f"{agreement.max_outstanding}.",
            agreement=agreement.agreement_id,
        )


def agreement_release(*, trade: Trade, amount: Decimal) -> None:
    """A trade under an agreement has ended: what it cost is no longer outstanding."""
    if trade.agreement_id is not None:
        with connection.cursor() as cursor:
            cursor.execute(RELEASE, {"agreement": trade.agreement_id, "amount": amount})
