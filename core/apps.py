from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The base every app builds on: the API's plumbing, the event outbox, metrics, the replica
    router, errors and limits. It names no app: each domain registers its own event types,
    metrics and figures with it."""

    name = "core"
    verbose_name = "TradeNet core"
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
