from __future__ import annotations

from .services import shipment_create_for_trade


def create_shipment_for_placed_trade(sender, instance, update_fields=None, **kwargs) -> None:
    if instance.is_being_placed(update_fields):
        shipment_create_for_trade(trade=instance, actor=instance.created_by)
