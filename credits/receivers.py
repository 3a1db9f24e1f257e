from __future__ import annotations

from .services import settlement_hold


def hold_credits_for_placed_trade(sender, instance, update_fields=None, **kwargs) -> None:
    if instance.is_being_placed(update_fields):
        settlement_hold(trade=instance, actor=instance.created_by)
