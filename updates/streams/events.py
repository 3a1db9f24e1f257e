"""The streams' own event type (core.events.register): credentials revoked."""

from __future__ import annotations

import hashlib

from core.events import DomainEvent, register

# For the servers themselves, never shown to a client or sent to another system: credentials
# revoked (a token deleted, a session ended, a user deactivated). Written to the outbox in the
# revoking transaction, it reaches every server's streams in the log's order, so a stream of
# that credential is closed before anything committed after the revocation is written to it.
STREAM_REVOKED = register(
    "stream.revoked", rank=70, payload=("user_id", "kind", "keys"), public=False
)


def credential_digest(key: str) -> str:
    """What the log says of a credential: a digest, never the session key or token itself."""
    return hashlib.sha256(f"tradenet-stream:{key}".encode()).hexdigest()


def revocation(*, user_id: int, kind: str | None = None, keys=()) -> DomainEvent:
    """A STREAM_REVOKED event: the streams of `user_id` opened with a `kind` of credential
    ("token" or "session"; None: any) whose key is among `keys` (none: every one) end."""
    return DomainEvent(
        type=STREAM_REVOKED,
        payload={
            "user_id": user_id,
            "kind": kind,
            "keys": sorted(credential_digest(key) for key in keys),
        },
    )
