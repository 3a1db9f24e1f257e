from django.apps import AppConfig


class UpdatesConfig(AppConfig):
    """Delivery of committed domain events: the relay, the per-process hub, the streams."""

    name = "updates"
    verbose_name = "Live updates"

    def ready(self) -> None:
        from . import eventstream

        eventstream.configure()
