"""Inventory's business conflicts (409s in the API)."""

from __future__ import annotations

from tradenet.errors import DomainError


class InsufficientStock(DomainError):
    code = "insufficient_stock"

    def __init__(self, *, station: str, commodity: str, requested: int, available: int):
        super().__init__(
            f"Not enough {commodity} at {station}: asked for {requested}, {available} available.",
            station=station,
            commodity=commodity,
            requested=requested,
            available=available,
        )
