from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q

from core.text import text_vector


class Station(models.Model):
    class Kind(models.TextChoices):
        STATION = "station", "Station"
        PLANET = "planet", "Planet"
        OUTPOST = "outpost", "Outpost"

    code = models.SlugField(max_length=64, unique=True, help_text="Public id, e.g. ceres-prime.")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.STATION)
    # Position in light-years in a galactic frame; distances between stations drive ETAs.
    x = models.FloatField(default=0.0)
    y = models.FloatField(default=0.0)
    z = models.FloatField(default=0.0)
    operators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="operated_stations", blank=True
    )

    class Meta:
        ordering = ["code"]
        permissions = [("act_for_all_stations", "Can act for every station (dispatch staff)")]

    def __str__(self) -> str:
        return self.name  # the code is the URL's and the API's; people read names

    def distance_to(self, other: Station) -> float:
        return ((self.x - other.x) ** 2 + (self.y - other.y) ** 2 + (self.z - other.z) ** 2) ** 0.5


class Commodity(models.Model):
    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    unit = models.CharField(max_length=32, default="t")

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "commodities"

    def __str__(self) -> str:
        return self.name


class StockLevel(models.Model):
    """What a station holds of one commodity, and what is in transit towards it.

    Changed only by inventory.services, which writes a StockMovement for every change.
    """

    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="stock_levels")
    commodity = models.ForeignKey(Commodity, on_delete=models.PROTECT, related_name="stock_levels")
    on_hand = models.BigIntegerField(default=0)
    incoming = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["station__code", "commodity__code"]
        constraints = [
            models.UniqueConstraint(fields=["station", "commodity"], name="stock_level_unique"),
            # The last line of defence against an oversell race: PostgreSQL refuses the row.
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stock_on_hand_non_negative"),
            models.CheckConstraint(
                condition=Q(incoming__gte=0), name="stock_incoming_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.station.code}/{self.commodity.code}: {self.on_hand} (+{self.incoming})"


class StockMovement(models.Model):
    """Append-only ledger: one row per change of on_hand or incoming."""

    class Bucket(models.TextChoices):
        ON_HAND = "on_hand", "On hand"
        INCOMING = "incoming", "Incoming"

    class Kind(models.TextChoices):
        INITIAL = "initial", "Initial stock"
        DISPATCH = "dispatch", "Dispatch"
        ARRIVAL = "arrival", "Arrival"
        RETURN = "return", "Return"
        WRITE_OFF = "write_off", "Write-off"
        ADJUSTMENT = "adjustment", "Adjustment"

    # Indexed below with the ledger's order, which also serves the foreign key.
    station = models.ForeignKey(
        Station, on_delete=models.PROTECT, related_name="movements", db_index=False
    )
    commodity = models.ForeignKey(Commodity, on_delete=models.PROTECT, related_name="movements")
    bucket = models.CharField(max_length=16, choices=Bucket.choices)
    delta = models.BigIntegerField()
    balance_after = models.BigIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    trade = models.ForeignKey(
        "trades.Trade", on_delete=models.PROTECT, null=True, blank=True, related_name="movements"
    )
    shipment = models.ForeignKey(
        "cargo.Cargo", on_delete=models.PROTECT, null=True, blank=True, related_name="movements"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # A station's ledger, alone and by each filter, in its order (bench/list_scaling.py).
        indexes = [
            models.Index(fields=["station", "-created_at", "-id"], name="movement_station_idx"),
            models.Index(
                fields=["station", "commodity", "-created_at", "-id"],
                name="movement_commodity_idx",
            ),
            models.Index(
                fields=["station", "kind", "-created_at", "-id"], name="movement_kind_idx"
            ),
            GinIndex(text_vector("reason"), name="movement_reason_text_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(delta=0), name="movement_delta_non_zero"),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="movement_balance_ok"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.kind} {self.station.code}/{self.commodity.code} {self.bucket} {self.delta:+d}"
        )
