from django.apps import AppConfig


class UpdatesConfig(AppConfig):
    """Delivery of committed domain events: the relay, the per-process hub, the streams."""

    name = "updates"
    verbose_name = "Live updates"

    def ready(self) -> None:
        from django.conf import settings

        from tradenet.observability import register_database_figure

        from . import eventstream
        from .exporters import lag_figures

        eventstream.configure()
        if settings.TRADENET_AMQP_URL:
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
