from django.apps import AppConfig
from django.db.models.signals import post_save


class CargoConfig(AppConfig):
    name = "cargo"
    verbose_name = "Cargo"

    def ready(self) -> None:
        from trades.models import Trade

        from .receivers import create_shipment_for_placed_trade

        post_save.connect(
            create_shipment_for_placed_trade,
            sender=Trade,
            dispatch_uid="cargo.create_shipment_for_placed_trade",
        )
