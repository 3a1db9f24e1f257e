from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory"
    # Marked reads of its tables may come from the replica (core.replica.replica_readable).
    replica_reads = True

    def ready(self) -> None:
        from .models import Commodity, Station
        from .receivers import forget_directory_on_change

        for signal in (post_save, post_delete):
            for model in (Station, Commodity):
                signal.connect(
                    forget_directory_on_change,
                    sender=model,
                    dispatch_uid=f"inventory.forget_directory_on_change.{model.__name__}",
                )
