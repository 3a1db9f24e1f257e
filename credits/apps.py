from django.apps import AppConfig
from django.db.models.signals import post_save


class CreditsConfig(AppConfig):
    name = "credits"
    verbose_name = "Credits"

    def ready(self) -> None:
        from .receivers import hold_credits_for_placed_trade

        # Installed after inventory and cargo, so a placed trade's receivers lock its stock
        # before its accounts, as every other path does (docs/domain.md#credits). The hold's
        # resolution is no signal: trades.services calls it as the status changes.
        post_save.connect(
            hold_credits_for_placed_trade,
            sender="trades.Trade",  # by label: this app does not import the trades app
            dispatch_uid="credits.hold_credits_for_placed_trade",
        )
