from __future__ import annotations

from .services import stock_dispatch_for_trade


def dispatch_stock_for_placed_trade(sender, instance, update_fields=None, **kwargs) -> None:
    if instance.is_being_placed(update_fields):
        stock_dispatch_for_trade(trade=instance, actor=instance.created_by)
