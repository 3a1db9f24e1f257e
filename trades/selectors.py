"""Reads of trades, as the API and the streams' callers may see them."""

from __future__ import annotations

from django.db.models import QuerySet

from inventory.access import visible_to

from .models import Trade


def trades_visible_to(user) -> QuerySet[Trade]:
    """Trades whose seller or buyer `user` operates (every trade for dispatch staff), with what
    their representation needs in constant queries."""
    trades = Trade.objects.select_related("seller", "buyer", "cargo", "created_by")
    return visible_to(trades.prefetch_related("lines__commodity"), user, "seller_id", "buyer_id")
