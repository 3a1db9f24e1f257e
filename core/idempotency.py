"""The one Idempotency-Key mechanism (docs/api.md): a request made again with the same key
gets the first one's answer and changes nothing; the same key with another request is refused
(422 idempotency_key_reused); concurrent requests with one key wait for each other.

Each use keeps the earlier request where its answer is: POST /api/trades/ in an
IdempotencyRecord with the answer itself (trades.idempotency, kept TRADENET_IDEMPOTENCY_HOURS),
a deposit or withdrawal on its transfer, which is its answer (credits.services, kept as long as
the transfer). Both keep the request's `fingerprint` and ask `replay_or_refuse` what the key
means now. The header itself is read by core.api.headers.idempotency_key.
"""

from __future__ import annotations

import hashlib
from typing import Protocol, TypeVar

from django.db import connection

from core.errors import DomainError


class IdempotencyKeyReused(DomainError):
    """The key was used for another request: a 422, the request refused."""

    code = "idempotency_key_reused"
    http_status = 422

    def __init__(self, message: str, *, detail: dict[str, object] | None = None):
        super().__init__(message)
        # The trades' answer has never carried a `detail`, the credits' an empty one: the
        # answers stay as they were (None leaves it out: core.api.errors.error_response).
        self.detail = detail  # type: ignore[assignment]


def fingerprint(*parts: str) -> str:
    """What a key stands for: the request's parts, one a line, hashed."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def wait_for_key(scope: str, user_id: int | None, key: str) -> None:
    """Wait, until the transaction ends, for any other transaction holding this user's key in
    `scope`: for a use whose record is written late (a transfer, written last), where the
    unique index alone would let two requests both go ahead."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"{scope}:{user_id}:{key}"]
        )


class Earlier(Protocol):
    request_fingerprint: str


E = TypeVar("E", bound=Earlier)


def replay_or_refuse(
    earlier: E | None,
    *,
    request_fingerprint: str,
    reused: str,
    detail: dict[str, object] | None = None,
) -> E | None:
    """The earlier request made with the key, when this one is the same request (to replay);
    None when the key is new; IdempotencyKeyReused, saying `reused`, for another request."""
    if earlier is not None and earlier.request_fingerprint != request_fingerprint:
        raise IdempotencyKeyReused(reused, detail=detail)
    return earlier
