"""Placing a trade: the one place that states what a trade taking effect does, and in which
order.

Placing is one save (`placed_at`, once the lines exist), then the stages below, in this order,
each a receiver connected to its stage, in the placing transaction. Whatever the order in which
the apps connected them (their order in INSTALLED_APPS), they run in Stage's:

1. STOCK: the seller's stock rows locked, a shortage refused (InsufficientStock), the goods
   taken off the seller's shelves and booked as incoming at the buyer
   (`inventory.services.stock_dispatch_for_trade`);
2. CREDITS: the buyer's and the seller's accounts locked, a buyer short of credits refused
   (InsufficientCredits), the total held for the seller; then, under an agreement, its cap
   taken (AgreementExhausted): `trades.settlement.hold`;
3. SHIPMENT: the shipment and its first tracking row (`cargo.receivers`).

Why this order: stock rows, then accounts, then the agreement is the order every path that
locks them takes (a delivery locks its shipment, then the stock, then the accounts), so two
transactions never wait for each other in a cycle; the shipment is a new row that nobody else
can wait for, and the trade's events say so too (`core.events.order_in_operation`). A
refusal at any stage rolls the whole transaction back. `tests/trades/test_placement.py` holds
the order on the wire.

Who connects each stage: the app whose work it is, if it may import this one (cargo, in
`cargo/apps.py`); for the apps below trades (inventory, credits), which may not, this app
(`trades/apps.py`), with the receivers below calling their services.
"""

from __future__ import annotations

from enum import IntEnum

from django.dispatch import Signal
from django.utils import timezone

from inventory.services import stock_dispatch_for_trade

from . import settlement
from .consent import Consent
from .models import Trade


class Stage(IntEnum):
    STOCK = 1
    CREDITS = 2
    SHIPMENT = 3


# One Django signal per stage, sent in Stage's order: the order of the work is the order of the
# stages, never the order of the connections.
_placed = {stage: Signal() for stage in Stage}


def connect(receiver, *, stage: Stage, dispatch_uid: str) -> None:
    """Run `receiver(sender=Trade, trade=, say=)` at `stage` of placing every trade."""
    _placed[Stage(stage)].connect(receiver, dispatch_uid=dispatch_uid)


def disconnect(*, stage: Stage, dispatch_uid: str) -> bool:
    return _placed[Stage(stage)].disconnect(dispatch_uid=dispatch_uid)


def place(trade: Trade, say: Consent) -> None:
    """Make `trade`, whose lines exist, take effect: the placing save, then each stage's work in
    Stage's order. `say` is whose say lets the buyer be debited (trades.consent)."""
    trade.placed_at = timezone.now()
    trade.save(update_fields=["placed_at", "updated_at", "created_by"])
    for stage in Stage:
        _placed[stage].send(sender=Trade, trade=trade, say=say)


def dispatch_stock_for_placed_trade(sender, trade: Trade, **kwargs) -> None:
    stock_dispatch_for_trade(trade=trade, actor=trade.created_by)


def hold_credits_for_placed_trade(sender, trade: Trade, say: Consent, **kwargs) -> None:
    settlement.hold(trade=trade, say=say)
