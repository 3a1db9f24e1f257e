from __future__ import annotations

from . import directory
from .models import Station
from .services import stock_dispatch_for_trade


def dispatch_stock_for_placed_trade(sender, instance, update_fields=None, **kwargs) -> None:
    if instance.is_being_placed(update_fields):
        stock_dispatch_for_trade(trade=instance, actor=instance.created_by)


def forget_directory_on_change(sender, **kwargs) -> None:
    """A station or commodity saved or deleted here: this process reads its directory again."""
    (directory.stations if sender is Station else directory.commodities).forget()
