"""A cap on the streams one user holds open at once, counted across every server process.

Each open stream is a row (updates.OpenStream); claiming one takes a transaction-level advisory
lock on the user, so two streams opened together cannot both take the last place. Rows are
renewed by their process every keep-alive round; those not renewed for STALE_ROUNDS rounds
belong to a process that died and stop counting (and are cleared the next time that user opens a
stream).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from updates.streams.models import OpenStream

STALE_ROUNDS = 4
LOCK_SPACE = 0x53534543  # pg_advisory_xact_lock(int, int): this namespace, then the user id


def _stale_before():
    return timezone.now() - timedelta(
        seconds=STALE_ROUNDS * settings.TRADENET_SSE_KEEPALIVE_SECONDS
    )


def claim_stream(user_id: int) -> int | None:
    """A place for one more stream of `user_id` (its id), or None when the user is at the cap."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_SPACE, user_id])
        stale = _stale_before()
        OpenStream.objects.filter(user_id=user_id, renewed_at__lt=stale).delete()
        if (
            OpenStream.objects.filter(user_id=user_id).count()
            >= settings.TRADENET_SSE_MAX_STREAMS_PER_USER
        ):
            return None
        return OpenStream.objects.create(user_id=user_id).pk


def release_stream(stream_id: int) -> None:
    OpenStream.objects.filter(pk=stream_id).delete()


def renew_streams(stream_ids: list[int]) -> None:
    if stream_ids:
        OpenStream.objects.filter(pk__in=stream_ids).update(renewed_at=timezone.now())
