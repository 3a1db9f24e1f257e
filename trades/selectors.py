"""Reads of trades, as the API and the streams' callers may see them."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from inventory.access import visible_to

from .models import Agreement, Proposal, Trade


def trades_visible_to(user) -> QuerySet[Trade]:
    """Trades whose seller or buyer `user` operates (every trade for dispatch staff), with what
    their representation needs in constant queries."""
    trades = Trade.objects.select_related(
        "seller", "buyer", "cargo", "created_by", "settlement", "agreement"
    )
    return visible_to(trades.prefetch_related("lines__commodity"), user, "seller_id", "buyer_id")


def trades_by_status() -> dict[str, int]:
    """How many trades are in each status (those with none are left out)."""
    return dict(Trade.objects.order_by().values_list("status").annotate(n=Count("id")))


def proposals_visible_to(user) -> QuerySet[Proposal]:
    """Proposals whose seller or buyer `user` operates (every one for dispatch staff)."""
    proposals = Proposal.objects.select_related(
        "seller", "buyer", "proposed_by", "answered_by", "trade"
    )
    return visible_to(proposals, user, "seller_id", "buyer_id")


def agreements_visible_to(user) -> QuerySet[Agreement]:
    """Agreements granted or held by a station `user` operates (every one for dispatch)."""
    agreements = Agreement.objects.select_related(
        "buyer", "seller", "granted_by", "revoked_by"
    ).prefetch_related("commodities")
    return visible_to(agreements, user, "buyer_id", "seller_id")
