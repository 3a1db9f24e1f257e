from django.apps import AppConfig


class TradenetConfig(AppConfig):
    """The base layer: settings, API plumbing, the event bus and its outbox."""

    name = "tradenet"
    verbose_name = "TradeNet"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import staticcheck  # noqa: F401  (registers its system check)
        from .observability import register_database_figure
        from .replica import replica_configured, replica_lag

        if replica_configured():
            register_database_figure(
                "tradenet_replica_lag_seconds",
                "How far the read replica lags behind the primary (-1: not answering)",
                "database",
                replica_lag,
            )
