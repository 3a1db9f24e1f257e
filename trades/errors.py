"""Trades' business conflicts (409s in the API)."""

from __future__ import annotations

from core.errors import DomainError


class AlreadyPlaced(DomainError):
    code = "already_placed"


class NotOperator(DomainError):
    """The caller acts for a station they do not operate (a 403)."""

    code = "permission_denied"
    http_status = 403


class ConsentRequired(DomainError):
    """The trade would commit a station that has not consented (a 403): propose it instead."""

    code = "consent_required"
    http_status = 403


class AgreementExhausted(DomainError):
    code = "agreement_exhausted"
