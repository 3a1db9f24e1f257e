"""The webhooks' tables: endpoints, their deliveries (the durable queue) and each delivery's
attempts. Part of the app `updates` (its label, its migrations): updates/models.py gathers
them."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models


class WebhookEndpoint(models.Model):
    """Where an operator wants the events of their stations POSTed, signed (Standard Webhooks).

    The signing secret is kept encrypted (`updates.integrations.webhooks.security.seal`): it
    must be read back to sign, so it cannot be hashed like a token, and it is shown once, at
    creation or rotation.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    # Event types to send; empty: every type.
    event_types = models.JSONField(default=list, blank=True)
    # Stations whose events to send; empty: every station the owner operates (at sending time).
    stations = models.ManyToManyField("inventory.Station", blank=True, related_name="+")
    is_active = models.BooleanField(default=True)
    secret_sealed = models.TextField(editable=False)
    # After a rotation, the previous secret signs too until then (receivers switch over).
    previous_secret_sealed = models.TextField(blank=True, editable=False)
    previous_secret_until = models.DateTimeField(null=True, blank=True, editable=False)
    # Since when every delivery has failed (None: the last one succeeded).
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=500, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event for one endpoint, until it is delivered or given up."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (retries exhausted)"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    message_id = models.CharField(max_length=64)  # webhook-id: the stream's event id
    event_type = models.CharField(max_length=64)
    body = models.TextField()  # the JSON the stream carries
    # The codes of the stations the event concerns: a delivery waits while an earlier one to
    # the same endpoint about any of them is on its way (each station's events in order).
    stations = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "message_id"], name="webhook_delivery_once"
            ),
        ]
        indexes = [
            # Each endpoint's pending deliveries in order
            # (updates.integrations.webhooks.attempts.CANDIDATES).
            models.Index(
                fields=["endpoint", "id"],
                name="webhook_delivery_due_idx",
                condition=models.Q(state="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.message_id} to {self.endpoint_id}"


class WebhookAttempt(models.Model):
    """One POST of a delivery: when, the answer's status, how long, its first bytes."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    attempted_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"attempt {self.pk} of delivery {self.delivery_id}: {self.status_code or self.error}"
