"""Shipments' business conflicts (409s in the API)."""

from __future__ import annotations

from core.errors import DomainError


class ShipmentNotInTransit(DomainError):
    code = "invalid_transition"
