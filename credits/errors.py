"""Credits' business conflicts (409s in the API)."""

from __future__ import annotations

from decimal import Decimal

from core.errors import DomainError


class InsufficientCredits(DomainError):
    code = "insufficient_credits"

    def __init__(
        self, *, station: str, needed: Decimal, available: Decimal, station_id: int | None = None
    ):
        super().__init__(
            f"Not enough credits at {station}: {needed} needed, {available} available.",
            station=station,
            needed=str(needed),
            available=str(available),
        )
        self.station_id = station_id  # whose operators may see the figures (credits.disclosure)

    def without_figures(self) -> DomainError:
        """The same refusal for anyone but the station's operators: it says the station cannot
        pay, never what it has."""
        refusal = DomainError(
            f"{self.detail['station']} cannot pay the {self.detail['needed']} credits this needs.",
            station=self.detail["station"],
            needed=self.detail["needed"],
        )
        refusal.code = self.code
        return refusal


class CreditLimitInUse(DomainError):
    code = "credit_limit_in_use"

    def __init__(self, *, station: str, requested: Decimal, lowest: Decimal):
        super().__init__(
            f"The credit limit of {station} cannot go below {lowest}: that much of it is "
            f"spent or held (asked for {requested}).",
            station=station,
            requested=str(requested),
            lowest=str(lowest),
        )


class TransferFailed(DomainError):
    """A retry, under the same Idempotency-Key, of a transfer that was refused: refused again
    (TigerBeetle's id_already_failed), never tried anew."""

    code = "transfer_already_failed"
