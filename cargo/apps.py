from django.apps import AppConfig


class CargoConfig(AppConfig):
    name = "cargo"
    verbose_name = "Cargo"
    # Marked reads of its tables may come from the replica (core.replica.replica_readable).
    replica_reads = True

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
