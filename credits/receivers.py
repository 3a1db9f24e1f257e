from __future__ import annotations

from .services import settlement_hold


def hold_credits_for_placed_trade(sender, instance, update_fields=None, **kwargs) -> None:
    if instance.is_being_placed(update_fields):
        # Whose say lets the buyer be debited: decided by the trades app before placing
        # (trades.consent) and carried on the instance; none on it means the server's own.
        consent = instance.buyer_consent
        settlement_hold(
            trade=instance,
            actor=instance.created_by,
            consent=consent.kind,
            consented_by_id=consent.user_id,
            agreement_id=getattr(consent.agreement, "pk", None),
        )
