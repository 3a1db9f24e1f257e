"""A trade's settlement, both ends of it: what the buyer's credits and its agreement's cap do
when the trade is placed and when it ends (docs/domain.md#credits).

Each end locks the accounts first (in credits), then the agreement: the order every path
locks in (trades.placement), so concurrent trades under one agreement queue and never deadlock.
"""

from __future__ import annotations

from credits.services import settlement_hold, settlement_resolve

from . import consent
from .models import Trade


def hold(*, trade: Trade, say: consent.Consent) -> None:
    """A trade being placed: the buyer's credits held for the seller (a pending transfer that
    records `say`, whose say let the buyer be debited), then, under an agreement, its cap
    taken. Raises InsufficientCredits or AgreementExhausted (409s); the caller rolls back."""
    settlement_hold(
        trade=trade,
        actor=trade.created_by,
        consent=say.kind,
        consented_by_id=say.user_id,
        agreement_id=getattr(say.agreement, "pk", None),
    )
    if say.agreement is not None:
        consent.agreement_take(agreement=say.agreement, amount=trade.total)


def resolve(*, trade: Trade, actor=None) -> None:
    """A trade whose status just changed: once it has ended (completed, cancelled, failed),
    its hold posted or voided, then its agreement's cap released; nothing before."""
    settled = settlement_resolve(trade=trade, actor=actor)
    if settled is not None:
        consent.agreement_release(trade=trade, amount=settled.amount)
