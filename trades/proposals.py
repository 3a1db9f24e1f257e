"""Proposals: a trade one side offers and the other side's operators accept, decline, or let
expire (docs/domain.md#consent). A proposal holds nothing of either side; accepting places the
trade with both sides' say, in the accepting transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core import events
from core.actors import user_or_none
from core.errors import require_transition
from inventory.models import Commodity, Station
from trades.events import (
    PROPOSAL_ACCEPTED,
    PROPOSAL_CREATED,
    PROPOSAL_DECLINED,
    PROPOSAL_EXPIRED,
    PROPOSAL_WITHDRAWN,
)

from . import consent
from .errors import ConsentRequired, NotOperator
from .models import Proposal, Trade, lines_total
from .services import LineSpec, _initiate, trade_validate

Status = Proposal.Status
Side = Proposal.Side

# Only an open proposal is answered; each end is final.
TRANSITIONS: dict[str, set[str]] = {
    Status.OPEN: {Status.ACCEPTED, Status.DECLINED, Status.WITHDRAWN, Status.EXPIRED},
    Status.ACCEPTED: set(),
    Status.DECLINED: set(),
    Status.WITHDRAWN: set(),
    Status.EXPIRED: set(),
}
# The event each end announces.
CLOSED_EVENT = {
    Status.ACCEPTED: PROPOSAL_ACCEPTED,
    Status.DECLINED: PROPOSAL_DECLINED,
    Status.WITHDRAWN: PROPOSAL_WITHDRAWN,
    Status.EXPIRED: PROPOSAL_EXPIRED,
}


def proposal_create(
    *,
    seller: Station,
    buyer: Station,
    lines: Sequence[LineSpec],
    actor,
    terms: str = Trade.Terms.SELLER_RISK,
    note: str = "",
) -> Proposal:
    """Offer a trade for the other side to accept. The caller proposes for the side they
    operate (the seller's when they operate both); NotOperator if neither."""
    if consent.own_say(actor, seller) is not None:
        side = Side.SELLER
    elif consent.own_say(actor, buyer) is not None:
        side = Side.BUYER
    else:
        raise NotOperator(f"You operate neither {seller.code} nor {buyer.code}.")
    trade_validate(seller=seller, buyer=buyer, lines=lines)
    now = timezone.now()
    proposal = Proposal(
        seller=seller,
        buyer=buyer,
        proposed_by_side=side,
        terms=terms,
        items=[
            {
                "commodity": line.commodity.code,
                "quantity": line.quantity,
                "unit_price": str(line.unit_price),
            }
            for line in lines
        ],
        total=lines_total(lines),
        note=note,
        proposed_by=user_or_none(actor),
        expires_at=now + timedelta(seconds=settings.TRADENET_PROPOSAL_TTL_SECONDS),
    )
    with transaction.atomic(), events.batch():
        proposal.save()
        _announce(PROPOSAL_CREATED, proposal)
    return proposal


def proposal_accept(*, proposal: Proposal, actor) -> Proposal:
    """Place the proposed trade with the answering side's say. Refused (409) once it is no
    longer open; InsufficientStock or InsufficientCredits leave it open and nothing written."""
    with transaction.atomic(), events.batch():
        locked = _answer(proposal, actor, Status.ACCEPTED, answering=True)
        proposing = locked.station_of(locked.proposed_by_side)
        if (
            locked.proposed_by is not None
            and consent.own_say(locked.proposed_by, proposing) is None
        ):
            # The proposing side's say was its operator's: one who no longer acts for it (removed
            # since, or deactivated) speaks for it no more.
            raise ConsentRequired(
                f"{locked.proposed_by.get_username()}, who proposed {locked.proposal_id}, no "
                f"longer acts for {proposing.code}: it must be proposed again.",
                proposal=locked.proposal_id,
            )
        answer = consent.own_say(actor, locked.station_of(locked.answering_side))
        # The buyer's say: the answer when the seller proposed, the proposal otherwise.
        if locked.answering_side == Side.BUYER:
            buyer_says = answer
        else:
            proposer = locked.proposed_by_id
            kind = consent.Kind.OPERATOR if proposer is not None else consent.Kind.SYSTEM
            buyer_says = consent.Consent(kind, proposer)
        # The trade's creator is who committed the seller's goods, as for a trade placed
        # directly: the stock ledger's dispatch names them.
        seller_side = locked.proposed_by if locked.proposed_by_side == Side.SELLER else actor
        trade = _initiate(
            locked.seller,
            locked.buyer,
            _lines(locked),
            locked.terms,
            user_or_none(seller_side),
            buyer_says,
        )
        locked.trade = trade
        _close(locked, Status.ACCEPTED, actor)
    return locked


def proposal_decline(*, proposal: Proposal, actor) -> Proposal:
    """The answering side says no."""
    with transaction.atomic(), events.batch():
        locked = _answer(proposal, actor, Status.DECLINED, answering=True)
        _close(locked, Status.DECLINED, actor)
    return locked


def proposal_withdraw(*, proposal: Proposal, actor) -> Proposal:
    """The proposing side takes it back."""
    with transaction.atomic(), events.batch():
        locked = _answer(proposal, actor, Status.WITHDRAWN, answering=False)
        _close(locked, Status.WITHDRAWN, actor)
    return locked


def proposals_expire(*, now=None) -> int:
    """Record the expiry of every open proposal past its time, announcing each; how many.
    (An expired proposal can be answered no more whether or not this has run: see
    Proposal.current_status.)"""
    now = now or timezone.now()
    expired = 0
    while True:
        with transaction.atomic(), events.batch():
            due = list(
                Proposal.objects.select_for_update(skip_locked=True)
                .select_related("seller", "buyer")
                .filter(status=Status.OPEN, expires_at__lte=now)
                .order_by("expires_at")[:500]
            )
            for proposal in due:
                _close(proposal, Status.EXPIRED, None)
        expired += len(due)
        if len(due) < 500:
            return expired


def _answer(proposal: Proposal, actor, status: str, *, answering: bool) -> Proposal:
    locked = (
        Proposal.objects.select_for_update(of=("self",))
        .select_related("seller", "buyer", "proposed_by")
        .get(pk=proposal.pk)
    )
    side = locked.answering_side if answering else locked.proposed_by_side
    if consent.own_say(actor, locked.station_of(side)) is None:
        verb = {Status.ACCEPTED: "accept", Status.DECLINED: "decline"}.get(status, "withdraw")
        raise NotOperator(
            f"Only operators of {locked.station_of(side).code}, the {side}, may {verb} "
            f"{locked.proposal_id}."
        )
    require_transition(
        subject=f"Proposal {locked.proposal_id}",
        current=locked.current_status(),
        requested=status,
        transitions=TRANSITIONS,
    )
    return locked


def _close(proposal: Proposal, status: str, actor) -> None:
    proposal.status = status
    proposal.answered_by = user_or_none(actor)
    proposal.answered_at = timezone.now()
    proposal.save(update_fields=["status", "answered_by", "answered_at", "trade"])
    _announce(CLOSED_EVENT[status], proposal)


def _lines(proposal: Proposal) -> list[LineSpec]:
    codes = [item["commodity"] for item in proposal.items]
    commodities = Commodity.objects.in_bulk(codes, field_name="code")
    missing = [code for code in codes if code not in commodities]
    if missing:
        raise ValidationError({"items": [f"Commodity {', '.join(missing)} no longer exists."]})
    return [
        LineSpec(commodities[item["commodity"]], item["quantity"], Decimal(item["unit_price"]))
        for item in proposal.items
    ]


def proposal_event_payload(proposal: Proposal) -> dict:
    return {
        "proposal_id": proposal.proposal_id,
        "status": proposal.status,
        "seller": proposal.seller.code,
        "buyer": proposal.buyer.code,
        "proposed_by_side": proposal.proposed_by_side,
        "terms": proposal.terms,
        "items": proposal.items,
        "total": str(proposal.total),
        "expires_at": proposal.expires_at,
        "transaction_id": proposal.trade.transaction_id if proposal.trade_id else None,
    }


def _announce(event_type: str, proposal: Proposal) -> None:
    events.announce(
        events.DomainEvent(
            type=event_type,
            payload=proposal_event_payload(proposal),
            stations=(proposal.seller.code, proposal.buyer.code),
        )
    )
