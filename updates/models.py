"""What the delivery layer keeps in PostgreSQL: the streams open right now, to cap them per user
across every server process."""

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


class ExportPosition(models.Model):
    """How far an exporter (the RabbitMQ feed, the webhooks) has carried the event log: the id
    of the last event the other side confirmed. Advanced only after the confirmation, so after
    a crash or an outage the exporter resumes here and loses nothing."""

    exporter = models.CharField(max_length=32, primary_key=True)
    last_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.exporter} at {self.last_id}"
