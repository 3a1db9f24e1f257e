from django.apps import AppConfig


class CargoConfig(AppConfig):
    name = "cargo"
    verbose_name = "Cargo"

    def ready(self) -> None:
        from core.observability import register_database_figure
        from trades import placement

        from .receivers import create_shipment_for_placed_trade
        from .selectors import shipments_by_status

        register_database_figure(
            "tradenet_shipments", "Shipments, by status", "status", shipments_by_status
        )

        placement.connect(
            create_shipment_for_placed_trade,
            stage=placement.Stage.SHIPMENT,  # after the stock and the credits (placement.Stage)
            dispatch_uid="cargo.create_shipment_for_placed_trade",
        )
