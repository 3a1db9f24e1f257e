"""The shipments' event types (core.events.register)."""

from core.events import register

SHIPMENT = (
    "shipment_id", "transaction_id", "status", "origin", "destination", "eta", "location_note",
    "departed_at", "delivered_at", "loss_reported_at", "loss_report_note",
)  # fmt: skip

# After the stock and the credits they move, before the trade that refers to them.
CARGO_CREATED = register("cargo.created", rank=30, payload=SHIPMENT)
CARGO_UPDATED = register("cargo.updated", rank=31, payload=SHIPMENT)
CARGO_LOSS_REPORTED = register("cargo.loss_reported", rank=32, payload=SHIPMENT)
