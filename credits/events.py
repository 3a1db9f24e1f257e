"""The accounts' event types (core.events.register)."""

from core.events import register

ACCOUNT = ("station", "balance", "held", "incoming", "available", "credit_limit", "kind")

# A station's account changed; after the stock, before the shipment. Sent only to the station's
# own streams and webhooks (its figures are its own).
ACCOUNT_CHANGED = register("account.changed", rank=20, payload=ACCOUNT)
