from django.apps import AppConfig


class TradesConfig(AppConfig):
    name = "trades"
    verbose_name = "Trades"

    def ready(self) -> None:
        from tradenet.observability import register_database_figure

        from .selectors import trades_by_status

        register_database_figure(
            "tradenet_trades", "Trades recorded, by status", "status", trades_by_status
        )
