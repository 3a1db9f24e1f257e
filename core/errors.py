"""The base of the domain errors the services raise, and the one every state machine shares.

They are business conflicts, not bad input: the API answers them with 409 and the admin shows
their message. Each carries enough detail for the caller to see what was asked and what is
possible. The errors of one domain live with it (`inventory.errors`, `trades.errors`): the base
layer knows no domain.
"""

from __future__ import annotations


class DomainError(Exception):
    code = "conflict"
    http_status = 409

    def __init__(self, message: str, **detail):
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message


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
