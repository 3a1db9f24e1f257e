"""Trades' business conflicts (409s in the API)."""

from __future__ import annotations

from tradenet.errors import DomainError


class AlreadyPlaced(DomainError):
    code = "already_placed"
