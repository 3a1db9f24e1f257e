"""Domain errors raised by the services.

They are business conflicts, not bad input: the API answers them with 409 and the admin shows
their message. Each carries enough detail for the caller to see what was asked and what is possible.
"""

from __future__ import annotations


class DomainError(Exception):
    code = "conflict"

    def __init__(self, message: str, **detail):
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message


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


class InvalidTransition(DomainError):
    code = "invalid_transition"

    def __init__(self, *, subject: str, current: str, requested: str, allowed: list[str]):
        allowed_text = ", ".join(allowed) if allowed else "none (final state)"
        super().__init__(
            f"{subject} cannot go from {current} to {requested}; allowed from {current}: "
            f"{allowed_text}.",
            current=current,
            requested=requested,
            allowed=allowed,
        )


def require_transition(
    *, subject: str, current: str, requested: str, transitions: dict[str, set[str]]
) -> None:
    """Raise InvalidTransition unless `transitions` allows current -> requested."""
    allowed = transitions.get(current, set())
    if requested not in allowed:
        raise InvalidTransition(
            subject=subject, current=current, requested=requested, allowed=sorted(allowed)
        )


class AlreadyPlaced(DomainError):
    code = "already_placed"
