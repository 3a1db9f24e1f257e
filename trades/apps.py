from django.apps import AppConfig


class TradesConfig(AppConfig):
    name = "trades"
    verbose_name = "Trades"
    # Marked reads of its tables may come from the replica (core.replica.replica_readable).
    replica_reads = True

    def ready(self) -> None:
        from core.observability import register_database_figure

        from . import placement
        from .selectors import trades_by_status

        register_database_figure(
            "tradenet_trades", "Trades recorded, by status", "status", trades_by_status
        )

        # The stages of placing a trade whose work is the inventory's and the credits' (apps
        # that may not import this one); the cargo app connects its own. Their order is
        # placement.Stage's, not the order of these lines or of INSTALLED_APPS.
        placement.connect(
            placement.dispatch_stock_for_placed_trade,
            stage=placement.Stage.STOCK,
            dispatch_uid="trades.placement.dispatch_stock_for_placed_trade",
        )
        placement.connect(
            placement.hold_credits_for_placed_trade,
            stage=placement.Stage.CREDITS,
            dispatch_uid="trades.placement.hold_credits_for_placed_trade",
        )
