"""The webhooks' own event type (core.events.register)."""

from core.events import register

# Not in the log: sent to one webhook endpoint when its owner asks for a test.
WEBHOOK_TEST = register("webhook.test", rank=None, payload=("message",))
