"""Who may learn what a station has: its operators and dispatch staff, nobody else
(docs/api.md#need-to-know). Errors that would show a station's figures (credits or stock) are
told to everyone else without them."""

from __future__ import annotations

from core.errors import DomainError
from inventory import directory
from inventory.access import may_act_for
from inventory.errors import InsufficientStock

from .errors import InsufficientCredits


def as_told_to(user, error: DomainError) -> DomainError:
    """`error` as `user` may hear it: a refusal for want of credits, or of stock, keeps its
    figures only for that station's operators and dispatch staff."""
    if isinstance(error, InsufficientCredits) and not may_act_for(user, error.station_id):
        return error.without_figures()
    # A seller's stock likewise, told only to its operators and dispatch staff: the buyer
    # accepting an offer the seller can no longer fill learns that, not what the seller holds.
    if isinstance(error, InsufficientStock):
        code = error.detail["station"]
        station = directory.stations.by_code([code]).get(code)  # the process's, no query
        if not may_act_for(user, station):
            return error.without_figures()
    return error
