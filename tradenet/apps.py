from django.apps import AppConfig


class TradenetConfig(AppConfig):
    """The base layer: settings, API plumbing, the event bus and its outbox."""

    name = "tradenet"
    verbose_name = "TradeNet"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import staticcheck  # noqa: F401  (registers its system check)
