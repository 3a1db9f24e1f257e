"""Inventory's business conflicts (409s in the API)."""

from __future__ import annotations

from core.errors import DomainError


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

    def without_figures(self) -> DomainError:
        """The same refusal for anyone but the station's operators: it says the station lacks
        the goods, never how much it holds (credits.disclosure)."""
        refusal = DomainError(
            f"{self.detail['station']} cannot supply the {self.detail['requested']} "
            f"{self.detail['commodity']} this needs.",
            station=self.detail["station"],
            commodity=self.detail["commodity"],
            requested=self.detail["requested"],
        )
        refusal.code = self.code
        return refusal
