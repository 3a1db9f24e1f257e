from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Cargo(models.Model):
    """The shipment that carries a trade's goods from the seller to the buyer."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_TRANSIT = "in_transit", "In transit"
        DELIVERED = "delivered", "Delivered"
        CANCELLED = "cancelled", "Cancelled"
        LOST = "lost", "Lost"

    shipment_id = models.CharField(max_length=64, unique=True, editable=False)
    trade = models.OneToOneField("trades.Trade", on_delete=models.PROTECT, related_name="cargo")
    origin = models.ForeignKey(
        "inventory.Station", on_delete=models.PROTECT, related_name="outbound_shipments"
    )
    destination = models.ForeignKey(
        "inventory.Station", on_delete=models.PROTECT, related_name="inbound_shipments"
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    eta = models.DateTimeField(db_index=True)
    location_note = models.CharField(max_length=255, blank=True)
    departed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "shipment"
        verbose_name_plural = "shipments"
        indexes = [
            models.Index(fields=["origin", "status"], name="cargo_origin_idx"),
            models.Index(fields=["destination", "status"], name="cargo_destination_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(origin=models.F("destination")), name="cargo_origin_not_destination"
            ),
        ]

    def __str__(self) -> str:
        return self.shipment_id


class TrackingEvent(models.Model):
    """Append-only tracking history: one row per status change of a shipment."""

    cargo = models.ForeignKey(Cargo, on_delete=models.CASCADE, related_name="tracking_events")
    from_status = models.CharField(max_length=16, choices=Cargo.Status.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=Cargo.Status.choices)
    note = models.CharField(max_length=255, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.cargo.shipment_id}: {self.from_status or '-'} → {self.to_status}"
