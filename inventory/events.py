"""The stock's event types (core.events.register)."""

from core.events import register

STOCK = ("station", "commodity", "on_hand", "incoming", "kind")

# A station's level of one commodity changed: first among an operation's events.
INVENTORY_CHANGED = register("inventory.changed", rank=10, payload=STOCK)
