"""Idempotency-Key support for POST /api/trades/: the one mechanism (core.idempotency),
with the answer kept in an IdempotencyRecord.

A key is claimed inside the request's transaction. A concurrent retry with the same key waits on
the unique index until the first request commits, then replays its answer; so a key can never
create two trades.
"""

from __future__ import annotations

import json
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core import idempotency

from .models import IdempotencyRecord

REUSED = (
    "This Idempotency-Key was already used with a different request body. "
    "Use a new key for a new trade."
)


def fingerprint(path: str, data) -> str:
    """What a key stands for: the route and the body. Every route answers with and without its
    trailing slash (tradenet/api_urls.py), so `/api/trades` and `/api/trades/` are the same
    request; the path is written with the slash, as records made before this were."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    route = path.rstrip("/") + "/"
    return idempotency.fingerprint(route, canonical)


CLAIM = f"""
INSERT INTO {IdempotencyRecord._meta.db_table} (user_id, key, request_fingerprint, created_at)
VALUES (%s, %s, %s, now())
ON CONFLICT (user_id, key) DO NOTHING
RETURNING id
"""


def claim(*, user, key: str, request_fingerprint: str) -> tuple[IdempotencyRecord, bool]:
    """Return (record, is_replay). Must run inside a transaction.

    One statement for a new key: the insert waits on the unique index while another request
    holding the same key is in flight, then finds its committed record.
    """
    assert transaction.get_connection().in_atomic_block
    while True:
        with connection.cursor() as cursor:
            cursor.execute(CLAIM, [user.pk, key, request_fingerprint])
            row = cursor.fetchone()
        if row is not None:
            record = IdempotencyRecord(
                id=row[0], user=user, key=key, request_fingerprint=request_fingerprint
            )
            return record, False
        record = IdempotencyRecord.objects.get(user=user, key=key)
        if record.created_at < timezone.now() - timedelta(
            hours=settings.TRADENET_IDEMPOTENCY_HOURS
        ):
            record.delete()  # expired: the key is free again
            continue
        idempotency.replay_or_refuse(record, request_fingerprint=request_fingerprint, reused=REUSED)
        return record, True


def remember(record: IdempotencyRecord, status: int, body) -> None:
    record.response_status = status
    record.response_body = json.loads(json.dumps(body, default=str))
    record.save(update_fields=["response_status", "response_body"])


def purge_expired() -> int:
    expired = expiry_cutoff()
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=expired).delete()
    return deleted


def expiry_cutoff():
    """Records made before this have expired (TRADENET_IDEMPOTENCY_HOURS)."""
    return timezone.now() - timedelta(hours=settings.TRADENET_IDEMPOTENCY_HOURS)
