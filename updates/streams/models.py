"""The streams' tables: the streams open right now (`OpenStream`, to cap them per user across
every server process) and each Pushpin channel's last event (`PushpinChannel`). Part of the
app `updates` (its label, its migrations): updates/models.py gathers them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Now


class OpenStream(models.Model):
    """One open event stream. Its process renews `renewed_at` with every keep-alive round; a
    row not renewed for a while belongs to a process that died and no longer counts."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    renewed_at = models.DateTimeField(db_default=Now())

    class Meta:
        indexes = [models.Index(fields=["user", "renewed_at"], name="open_stream_user_idx")]

    def __str__(self) -> str:
        return f"stream of user {self.user_id}"


class PushpinChannel(models.Model):
    """The id of the last event published on a Pushpin channel (and, under the name
    HIGH_WATER, the last event published at all): what a stream held by Pushpin subscribes
    after (`prev-id`), so that an event published while it subscribes is recovered, not lost
    (updates/streams/sequence.py). Written by the one active relay, in the log's order."""

    name = models.CharField(max_length=200, primary_key=True)
    last_event_id = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.name} at {self.last_event_id}"
