from __future__ import annotations

from .services import shipment_create_for_trade


def create_shipment_for_placed_trade(sender, trade, **kwargs) -> None:
    """The SHIPMENT stage of placing a trade (trades.placement)."""
    shipment_create_for_trade(trade=trade, actor=trade.created_by)
