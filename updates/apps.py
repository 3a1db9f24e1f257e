from django.apps import AppConfig
from django.conf import settings


class UpdatesConfig(AppConfig):
    name = "updates"
    verbose_name = "Live updates"

    def ready(self) -> None:
        import django_eventstream.storage
        import django_eventstream.views

        from . import events
        from .publishing import publish_to_streams

        # Retention of stored events is a setting here, a module constant upstream.
        django_eventstream.storage.EVENT_TIMEOUT = settings.TRADENET_EVENT_RETENTION_MINUTES
        # Upstream queues at most 10 events per listener between wake-ups and then re-reads
        # from the database; our single pump listener drains fast, so give it room for bursts.
        django_eventstream.views.MAX_PENDING = 10_000
        from tradenet.observability import count_trades

        events.subscribe(publish_to_streams)
        events.subscribe(count_trades)
