"""Every write to webhook endpoints and deliveries: the API, the admin and commands call these."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core import events
from core.wakeups import wake
from updates.integrations.webhooks.events import WEBHOOK_TEST
from updates.integrations.webhooks.models import WebhookDelivery, WebhookEndpoint
from updates.integrations.webhooks.security import check_target, new_secret, seal

logger = logging.getLogger(__name__)

WAKE_CHANNEL = "tradenet_webhooks"


def endpoint_create(
    *, owner, url: str, event_types: Iterable[str] = (), stations: Iterable = (), is_active=True
):
    """Register an endpoint; returns it and its secret, shown this once. No event types: all of
    them; no stations: every station the owner operates."""
    check_target(url)
    event_types = subscribable(event_types)
    secret = new_secret()
    endpoint = WebhookEndpoint.objects.create(
        owner=owner,
        url=url,
        event_types=event_types,
        is_active=is_active,
        secret_sealed=seal(secret),
    )
    endpoint.stations.set(stations)
    return endpoint, secret


def endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    event_types: Iterable[str] | None = None,
    stations: Iterable | None = None,
    is_active: bool | None = None,
) -> WebhookEndpoint:
    """Change what was given; a new URL passes the target guard; turning a disabled endpoint
    on again clears why it was disabled."""
    changed = ["updated_at"]
    if url is not None:
        check_target(url)
        endpoint.url = url
        changed.append("url")
    if event_types is not None:
        endpoint.event_types = subscribable(event_types)
        changed.append("event_types")
    if is_active is not None:
        endpoint.is_active = is_active
        changed.append("is_active")
        if is_active:
            endpoint.disabled_reason, endpoint.failing_since = "", None
            changed += ["disabled_reason", "failing_since"]
    endpoint.save(update_fields=changed)
    if stations is not None:
        endpoint.stations.set(stations)
    return endpoint


def subscribable(event_types: Iterable[str]) -> list[str]:
    """`event_types` as an endpoint keeps them (each once, sorted), all of them public types
    (core.events.public_types); any other is refused, on `event_types`."""
    chosen = sorted(set(event_types))
    public = events.public_types()
    unknown = [event_type for event_type in chosen if event_type not in public]
    if unknown:
        raise ValidationError(
            {
                "event_types": [
                    f"No event type {', '.join(unknown)} to subscribe to; the types: "
                    f"{', '.join(public)}."
                ]
            }
        )
    return chosen


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Delete an endpoint, its deliveries and their attempts. The endpoint's row is locked
    first: the sender, writing what its deliveries' receivers answered, locks it too
    (attempts.record), so one waits for the other; either the deletion finds the attempts just
    written and deletes them with the rest, or the sender finds the endpoint gone and writes
    nothing for it. Without the lock an attempt written in between would point at a deleted
    delivery and fail this deletion's commit."""
    with transaction.atomic():
        list(WebhookEndpoint.objects.select_for_update().filter(pk=endpoint.pk).values("pk"))
        endpoint.delete()


def endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> str:
    """A new secret; the current one keeps signing for TRADENET_WEBHOOK_SECRET_OVERLAP_HOURS."""
    secret = new_secret()
    endpoint.previous_secret_sealed = endpoint.secret_sealed
    endpoint.previous_secret_until = timezone.now() + timedelta(
        hours=settings.TRADENET_WEBHOOK_SECRET_OVERLAP_HOURS
    )
    endpoint.secret_sealed = seal(secret)
    endpoint.save(
        update_fields=["secret_sealed", "previous_secret_sealed", "previous_secret_until"]
    )
    return secret


def endpoint_enable(*, endpoint: WebhookEndpoint) -> None:
    endpoint.is_active, endpoint.disabled_reason, endpoint.failing_since = True, "", None
    endpoint.save(update_fields=["is_active", "disabled_reason", "failing_since", "updated_at"])


def send_test_event(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    body = json.dumps(
        {"message": "A test event from TradeNet.", "published_at": timezone.now().isoformat()}
    )
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        message_id=f"test-{uuid.uuid4().hex}",
        event_type=WEBHOOK_TEST,
        body=body,
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(wake_sender)
    return delivery


def redeliver(*, delivery: WebhookDelivery) -> None:
    delivery.state = WebhookDelivery.State.PENDING
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["state", "next_attempt_at"])
    transaction.on_commit(wake_sender)


def wake_sender() -> None:
    """Tell the active sender (in whichever process) that deliveries are due: after the commit,
    from this process's waker (core/wakeups.py), so no writer's commit waits on a NOTIFY."""
    wake(WAKE_CHANNEL)
