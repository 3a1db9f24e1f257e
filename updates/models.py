"""The tables of `updates`, each owned by its sub-package and gathered here, where Django looks
for an app's models: one app label and one history of migrations for all of them, so that the
tables keep their names (`updates_*`).

- updates/streams/models.py: the open streams and the Pushpin channels;
- updates/integrations/models.py: the exporters' positions;
- updates/integrations/webhooks/models.py: endpoints, deliveries and attempts.
"""

from updates.integrations.models import ExportPosition
from updates.integrations.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from updates.streams.models import OpenStream, PushpinChannel

__all__ = [
    "ExportPosition",
    "OpenStream",
    "PushpinChannel",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
