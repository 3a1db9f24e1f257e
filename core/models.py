"""Models of the base layer. Only the event outbox lives here."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now


class OutboxEvent(models.Model):
    """A domain event written with the change that caused it, waiting for the relay.

    Rows live for milliseconds: the relay moves committed rows to the public event log
    (django-eventstream's storage), where they get their public, gapless ids.
    """

    type = models.CharField(max_length=64)
    # The event's envelope as django-eventstream stores event data (JSON text, encoded again).
    data = models.TextField()
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "tradenet_outbox"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.id} {self.type}"
