"""Who may learn what a station has: its operators and dispatch staff, nobody else
(docs/api.md#need-to-know). Errors that would show a station's figures are told to everyone
else without them."""

from __future__ import annotations

from inventory.access import may_act_for
from tradenet.errors import DomainError

from .errors import InsufficientCredits


def as_told_to(user, error: DomainError) -> DomainError:
    """`error` as `user` may hear it: a refusal for want of credits keeps its figures only for
    the paying station's operators and dispatch staff."""
    if isinstance(error, InsufficientCredits) and not may_act_for(user, error.station_id):
        return error.without_figures()
    return error
