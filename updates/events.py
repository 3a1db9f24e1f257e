"""The event types of `updates`, where the registry finds them (core.events.registered): the
streams' and the webhooks' own, each registered beside its code."""

from updates.integrations.webhooks.events import WEBHOOK_TEST
from updates.streams.events import STREAM_REVOKED

__all__ = ["STREAM_REVOKED", "WEBHOOK_TEST"]
