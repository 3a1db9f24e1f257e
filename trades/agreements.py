"""Standing agreements: a buyer's operators let one seller's trades debit it without asking
each time, within limits they set (docs/domain.md#consent). Granted and revoked here; used by
trades.consent as trades are placed."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core import events
from core.actors import user_or_none
from core.errors import InvalidTransition
from inventory.models import Commodity, Station
from trades.events import AGREEMENT_GRANTED, AGREEMENT_REVOKED

from . import consent
from .errors import NotOperator
from .models import Agreement


def agreement_grant(
    *,
    buyer: Station,
    seller: Station,
    max_unit_price: Decimal,
    max_trade_total: Decimal,
    max_outstanding: Decimal,
    commodities: Iterable[Commodity] = (),
    allow_buyer_risk: bool = False,
    expires_at: datetime | None = None,
    actor=None,
) -> Agreement:
    """The buyer's operators (or dispatch staff) let `seller`'s trades debit `buyer` within
    these limits; NotOperator for anyone else."""
    if consent.own_say(actor, buyer) is None:
        raise NotOperator(f"You do not operate {buyer.code}, the station that would pay.")
    errors: dict[str, list[str]] = {}
    if seller.pk == buyer.pk:
        errors["seller"] = ["A station needs no agreement with itself."]
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = ["An agreement must expire in the future."]
    if max_trade_total > max_outstanding:
        errors["max_trade_total"] = ["May not be more than max_outstanding."]
    if errors:
        raise ValidationError(errors)
    agreement = Agreement(
        buyer=buyer,
        seller=seller,
        max_unit_price=max_unit_price,
        max_trade_total=max_trade_total,
        max_outstanding=max_outstanding,
        allow_buyer_risk=allow_buyer_risk,
        expires_at=expires_at,
        granted_by=user_or_none(actor),
    )
    with transaction.atomic(), events.batch():
        agreement.save()
        agreement.commodities.set(list(commodities))
        _announce(AGREEMENT_GRANTED, agreement)
    return agreement


def agreement_revoke(*, agreement: Agreement, actor=None) -> Agreement:
    """End the agreement at once: no trade placed after this commits may use it (trades under
    way keep their hold). NotOperator for anyone but the buyer's operators and dispatch."""
    with transaction.atomic(), events.batch():
        # The row lock a placing trade's cap check waits for (trades.consent.TAKE).
        locked = (
            Agreement.objects.select_for_update(of=("self",))
            .select_related("buyer", "seller")
            .get(pk=agreement.pk)
        )
        if consent.own_say(actor, locked.buyer) is None:
            raise NotOperator(
                f"Only operators of {locked.buyer.code}, which granted it, may revoke "
                f"{locked.agreement_id}."
            )
        if locked.revoked_at is not None:
            raise InvalidTransition(
                subject=f"Agreement {locked.agreement_id}",
                current="revoked",
                requested="revoked",
                allowed=[],
            )
        locked.revoked_at = timezone.now()
        locked.revoked_by = user_or_none(actor)
        locked.save(update_fields=["revoked_at", "revoked_by"])
        _announce(AGREEMENT_REVOKED, locked)
    return locked


def agreement_event_payload(agreement: Agreement) -> dict:
    return {
        "agreement_id": agreement.agreement_id,
        "buyer": agreement.buyer.code,
        "seller": agreement.seller.code,
        "commodities": sorted(c.code for c in agreement.commodities.all()),
        "max_unit_price": str(agreement.max_unit_price),
        "max_trade_total": str(agreement.max_trade_total),
        "max_outstanding": str(agreement.max_outstanding),
        "allow_buyer_risk": agreement.allow_buyer_risk,
        "expires_at": agreement.expires_at,
        "revoked_at": agreement.revoked_at,
    }


def _announce(event_type: str, agreement: Agreement) -> None:
    events.announce(
        events.DomainEvent(
            type=event_type,
            payload=agreement_event_payload(agreement),
            stations=(agreement.buyer.code, agreement.seller.code),
        )
    )
