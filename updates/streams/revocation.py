"""Revoked credentials end their streams on every server at once, in the log's order.

Each receiver announces one revocation (`tradenet.events.revocation`) in the revoking
transaction: a token deleted (revoked, revoked with all the user's others, or expired and
cleaned up), a session ended (sign-out), a user deactivated. The event travels like every
other (outbox, relay, every server's hub, Pushpin), so a hub ends those streams before it
hands them anything committed later. The periodic re-check (TRADENET_SSE_REAUTH_SECONDS)
stays behind it, for what no signal announces (a session that expires, a user deleted).
"""

from __future__ import annotations

from django.db import transaction

from tradenet import events


def revoke_streams_of_deleted_token(sender, instance, **kwargs) -> None:
    with transaction.atomic(savepoint=False):
        events.announce(
            events.revocation(user_id=instance.user_id, kind="token", keys=[instance.digest])
        )


def revoke_streams_of_ended_session(sender, request, user, **kwargs) -> None:
    key = getattr(getattr(request, "session", None), "session_key", None)
    if user is None or not key:
        return
    with transaction.atomic(savepoint=False):
        events.announce(events.revocation(user_id=user.pk, kind="session", keys=[key]))


def revoke_streams_of_deactivated_user(sender, instance, created, **kwargs) -> None:
    if created or instance.is_active:
        return
    # In the deactivating transaction when there is one (the admin's); a save in autocommit
    # has committed already, and the revocation follows it at once.
    with transaction.atomic(savepoint=False):
        events.announce(events.revocation(user_id=instance.pk))
