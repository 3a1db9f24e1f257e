"""The exporters' table: how far each has carried the log (`ExportPosition`). Part of the app
`updates` (its label, its migrations): updates/models.py gathers it."""

from __future__ import annotations

from django.db import models


class ExportPosition(models.Model):
    """How far an exporter (the RabbitMQ feed, the webhooks) has carried the event log: the id
    of the last event the other side confirmed. Advanced only after the confirmation, so after
    a crash or an outage the exporter resumes here and loses nothing."""

    exporter = models.CharField(max_length=32, primary_key=True)
    last_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.exporter} at {self.last_id}"
