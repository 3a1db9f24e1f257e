from django.apps import AppConfig
from django.db.models.signals import post_save


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory"

    def ready(self) -> None:
        from .receivers import dispatch_stock_for_placed_trade

        post_save.connect(
            dispatch_stock_for_placed_trade,
            sender="trades.Trade",  # lazy: this app does not import the trades app
            dispatch_uid="inventory.dispatch_stock_for_placed_trade",
        )
