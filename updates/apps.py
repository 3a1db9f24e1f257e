from django.apps import AppConfig


class UpdatesConfig(AppConfig):
    """Delivery of committed domain events: the relay, the hub and the streams, the exporters
    (the RabbitMQ feed, the webhooks)."""

    name = "updates"
    verbose_name = "Live updates"

    def ready(self) -> None:
        from tradenet.observability import register_database_figure

        from . import eventstream
        from .exporters import lag_figures

        eventstream.configure()
        # For each exporter of the deployment (the webhooks' fan-out, and the feed when set).
        register_database_figure(
            "tradenet_export_lag_events",
            "Committed events an exporter has not carried yet",
            "exporter",
            lag_figures(0),
        )
        register_database_figure(
            "tradenet_export_lag_seconds",
            "Age of the oldest event an exporter has not carried yet",
            "exporter",
            lag_figures(1),
        )
