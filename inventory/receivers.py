from __future__ import annotations

from trades.services import trade_is_being_placed

from .services import stock_dispatch_for_trade


def dispatch_stock_for_placed_trade(sender, instance, update_fields=None, **kwargs) -> None:
    if trade_is_being_placed(instance, update_fields):
        stock_dispatch_for_trade(trade=instance, actor=getattr(instance, "_placing_actor", None))
