from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Case, F, Q, When
from django.db.models.functions import Upper
from django.utils import timezone

from core.text import text_vector


def due_in_transit() -> Case:
    """A shipment's ETA while it is in transit ("in_transit": Cargo.Status.IN_TRANSIT), NULL
    otherwise. Overdue is this before now. One expression for the filters and its index."""
    return Case(When(status="in_transit", then=F("eta")))


class CargoQuerySet(models.QuerySet):
    def overdue(self) -> CargoQuerySet:
        """Shipments in transit past their ETA."""
        return self.alias(due=due_in_transit()).filter(due__lt=timezone.now())

    def not_overdue(self) -> CargoQuerySet:
        # Spelled out: NOT (due < now) is NULL, so false, for every shipment not in transit.
        due = Q(due__isnull=True) | Q(due__gte=timezone.now())
        return self.alias(due=due_in_transit()).filter(due)


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
    # Indexed below with the list's order, which also serves the foreign keys.
    origin = models.ForeignKey(
        "inventory.Station",
        on_delete=models.PROTECT,
        related_name="outbound_shipments",
        db_index=False,
    )
    destination = models.ForeignKey(
        "inventory.Station",
        on_delete=models.PROTECT,
        related_name="inbound_shipments",
        db_index=False,
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    eta = models.DateTimeField("ETA", db_index=True)
    location_note = models.CharField(max_length=255, blank=True)
    departed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # A loss suspected by the end that does not decide it (cargo.access): shown on the shipment
    # and announced to both ends; it moves no credits and no stock.
    loss_reported_at = models.DateTimeField(null=True, blank=True, editable=False)
    loss_reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    loss_report_note = models.CharField(
        max_length=255, blank=True, default="", db_default="", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CargoQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "shipment"
        verbose_name_plural = "shipments"
        # Every filter of the list meets an index in the list's order (bench/list_scaling.py).
        indexes = [
            models.Index(fields=["origin", "-created_at", "-id"], name="cargo_origin_idx"),
            models.Index(
                fields=["destination", "-created_at", "-id"], name="cargo_destination_idx"
            ),
            models.Index(fields=["status", "-created_at", "-id"], name="cargo_status_idx"),
            # A station's shipments in one state (an operator's "in transit", "overdue").
            models.Index(
                fields=["origin", "status", "-created_at"], name="cargo_origin_status_idx"
            ),
            models.Index(
                fields=["destination", "status", "-created_at"],
                name="cargo_destination_status_idx",
            ),
            # ?search=: a shipment id in any case, words of the location note
            models.Index(Upper("shipment_id"), name="cargo_shipment_id_upper_idx"),
            GinIndex(text_vector("location_note"), name="cargo_location_note_text_idx"),
            # ?overdue=: its statistics tell PostgreSQL how few shipments are late, which the
            # columns' own cannot (most ETAs are past, but of delivered shipments).
            models.Index(due_in_transit(), name="cargo_due_in_transit_idx"),
            # A station's overdue shipments (?station=&overdue=, an operator's ?overdue=): its
            # own late ones, instead of every late shipment intersected with all the station's.
            models.Index(F("origin"), due_in_transit(), name="cargo_origin_due_idx"),
            models.Index(F("destination"), due_in_transit(), name="cargo_destination_due_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(origin=models.F("destination")), name="cargo_origin_not_destination"
            ),
        ]

    def __str__(self) -> str:
        return self.shipment_id

    @property
    def is_overdue(self) -> bool:
        """In transit past its ETA (the same rule as `Cargo.objects.overdue()`)."""
        return self.status == self.Status.IN_TRANSIT and self.eta < timezone.now()


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
