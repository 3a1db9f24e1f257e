"""Reads of trades, as the API and the streams' callers may see them."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from inventory.access import visible_to

from .models import Trade


def trades_visible_to(user) -> QuerySet[Trade]:
    """Trades whose seller or buyer `user` operates (every trade for dispatch staff), with what
    their representation needs in constant queries."""
    trades = Trade.objects.select_related("seller", "buyer", "cargo", "created_by", "settlement")
    return visible_to(trades.prefetch_related("lines__commodity"), user, "seller_id", "buyer_id")


def trades_by_status() -> dict[str, int]:
    """How many trades are in each status (those with none are left out)."""
    return dict(Trade.objects.order_by().values_list("status").annotate(n=Count("id")))
