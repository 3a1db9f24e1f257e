from django.apps import AppConfig
from django.db.models.signals import post_save


class CargoConfig(AppConfig):
    name = "cargo"
    verbose_name = "Cargo"

    def ready(self) -> None:
        from tradenet.observability import register_database_figure

        from .receivers import create_shipment_for_placed_trade
        from .selectors import shipments_by_status

        register_database_figure(
            "tradenet_shipments", "Shipments, by status", "status", shipments_by_status
        )

        post_save.connect(
            create_shipment_for_placed_trade,
            sender="trades.Trade",  # by label: nothing is imported while apps load
            dispatch_uid="cargo.create_shipment_for_placed_trade",
        )
