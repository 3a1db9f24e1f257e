from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory"

    def ready(self) -> None:
        from .models import Commodity, Station
        from .receivers import dispatch_stock_for_placed_trade, forget_directory_on_change

        post_save.connect(
            dispatch_stock_for_placed_trade,
            sender="trades.Trade",  # lazy: this app does not import the trades app
            dispatch_uid="inventory.dispatch_stock_for_placed_trade",
        )
        for signal in (post_save, post_delete):
            for model in (Station, Commodity):
                signal.connect(
                    forget_directory_on_change,
                    sender=model,
                    dispatch_uid=f"inventory.forget_directory_on_change.{model.__name__}",
                )
