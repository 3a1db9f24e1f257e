"""The registry of event types (core.events; each app registers its own): an unregistered type
is refused; the order of an operation, the audiences, the OpenAPI enum and the live page's
list derive from it; and every emitter writes exactly the payload fields it registers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from cargo.services import shipment_report_loss, shipment_update
from core import events
from credits.events import ACCOUNT_CHANGED
from credits.services import credits_deposit
from inventory.events import INVENTORY_CHANGED
from tests.factories import UserFactory, make_trade
from tests.trades.test_services import outbox, outbox_end
from trades.agreements import agreement_grant, agreement_revoke
from trades.proposals import (
    proposal_accept,
    proposal_create,
    proposal_decline,
    proposal_withdraw,
    proposals_expire,
)
from trades.services import LineSpec
from updates.integrations.webhooks.events import WEBHOOK_TEST
from updates.integrations.webhooks.services import endpoint_create, send_test_event
from updates.streams.events import STREAM_REVOKED
from website.galaxy import LIVE_FEED_EVENTS

FRESH_PROCESS = """
import django
django.setup()
from core import events
print(" ".join(events.public_types()))
"""


def settings_only_env() -> dict:
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "tradenet.settings_typecheck"}


STATIC = Path(__file__).resolve().parents[2] / "website" / "static" / "website"


@pytest.mark.django_db
def test_an_unregistered_type_is_refused_and_nothing_is_written():
    start = outbox_end()
    with transaction.atomic(), events.batch():
        with pytest.raises(events.UnknownEventType, match=r"trade\.placed"):
            events.announce(events.DomainEvent(type="trade.placed", payload={}))
        # Registered, but never in the log: sent to one webhook endpoint on request.
        with pytest.raises(events.UnknownEventType, match=r"webhook\.test"):
            events.DomainEvent(type=WEBHOOK_TEST, payload={"message": "hi"})
    assert outbox(after=start) == []


def test_the_order_and_the_audiences_derive_from_the_registry():
    order = events.order_in_operation()
    families = [name.split(".")[0] for name in order]
    # Stock, credits, shipment, trade: a client that sees a trade has seen what it refers to.
    assert list(dict.fromkeys(families)) == [
        "inventory", "account", "cargo", "trade", "proposal", "agreement", "stream",
    ]  # fmt: skip
    assert order[:2] == (INVENTORY_CHANGED, ACCOUNT_CHANGED)
    assert {STREAM_REVOKED} == events.internal_types()
    assert STREAM_REVOKED not in events.public_types()
    assert events.public_types()[-1] == WEBHOOK_TEST  # sent, never in the log
    shuffled = [events.DomainEvent(type=name, payload={}) for name in order]
    assert events.in_operation_order(shuffled[::-1]) == shuffled
    for kind in events.REGISTRY.values():
        assert len(set(kind.payload)) == len(kind.payload) and "published_at" not in kind.payload


def test_a_type_or_a_rank_taken_twice_is_refused():
    with pytest.raises(ValueError, match="registered twice"):
        events.register(INVENTORY_CHANGED, rank=99, payload=())
    with pytest.raises(ValueError, match=r"rank 10 is inventory\.changed's"):
        events.register("inventory.recounted", rank=10, payload=())
    assert "inventory.recounted" not in events.REGISTRY


def test_each_apps_types_are_found_without_importing_them_first():
    """The registry imports every installed app's `events` module itself (as the admin finds
    `admin` modules): a fresh process that has only set Django up sees every type."""
    found = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS],
        capture_output=True, text=True, timeout=120, env=settings_only_env(), check=True,
    ).stdout.split()  # fmt: skip
    assert found == list(events.public_types())


@pytest.mark.django_db
def test_the_pages_name_only_registered_public_types(client):
    """The live feed's list comes from the server; the scripts' handlers name registered
    types only (a renamed type fails here, not silently in a browser)."""
    client.force_login(UserFactory())
    page = client.get("/live/").content.decode()
    handed = re.search(r'<script id="event-types" [^>]*>(.*?)</script>', page).group(1)
    assert json.loads(handed) == list(LIVE_FEED_EVENTS)
    assert set(LIVE_FEED_EVENTS) <= set(events.public_types())
    families = {name.split(".")[0] for name in events.REGISTRY}
    scripts = sorted(STATIC.glob("*.js"))
    assert {"live.js", "map.js", "station.js"} <= {script.name for script in scripts}
    for script in scripts:
        named = re.findall(r"""["']([a-z]+\.[a-z_]+)["']""", script.read_text())
        ours = [name for name in named if name.split(".")[0] in families]
        unknown = sorted(set(ours) - set(events.public_types()))
        assert not unknown, (script.name, unknown)


def _trade_and_its_journey(ceres, vesta, water):
    """A trade placed, departed, reported lost, delivered; a deposit."""
    trade = make_trade(ceres, vesta, (water, 5))
    shipment_update(shipment=trade.cargo, status="in_transit")
    shipment_report_loss(shipment=trade.cargo, note="no word since Ceres")
    shipment_update(shipment=trade.cargo, status="delivered")
    credits_deposit(station=vesta, amount=Decimal("10.00"))


def _proposals_and_agreements(ceres, vesta, water, ceres_op, vesta_op):
    """Proposals made and each one ended its own way; an agreement granted and revoked."""
    lines = [LineSpec(water, 1, Decimal("10.00"))]
    made = [
        proposal_create(seller=ceres, buyer=vesta, lines=lines, actor=ceres_op) for _ in range(4)
    ]
    proposal_accept(proposal=made[0], actor=vesta_op)
    proposal_decline(proposal=made[1], actor=vesta_op)
    proposal_withdraw(proposal=made[2], actor=ceres_op)
    assert proposals_expire(now=timezone.now() + timedelta(days=365)) == 1
    agreement = agreement_grant(
        buyer=vesta,
        seller=ceres,
        max_unit_price=Decimal("100.00"),
        max_trade_total=Decimal("1000.00"),
        max_outstanding=Decimal("1000.00"),
        actor=vesta_op,
    )
    agreement_revoke(agreement=agreement, actor=vesta_op)


@pytest.mark.django_db
def test_every_emitter_writes_exactly_its_registered_payload_fields(
    stocked_ceres, vesta, water, ceres_op, vesta_op
):
    start = outbox_end()
    _trade_and_its_journey(stocked_ceres, vesta, water)
    _proposals_and_agreements(stocked_ceres, vesta, water, ceres_op, vesta_op)
    deactivated = UserFactory()
    deactivated.is_active = False
    deactivated.save()  # its streams end: stream.revoked
    written = outbox(after=start)
    for event_type, envelope in written:
        assert sorted(envelope["payload"]) == sorted(events.REGISTRY[event_type].payload), (
            event_type
        )
    # Every type of the log was written above: a new one needs its operation here.
    assert {event_type for event_type, _ in written} == set(events.order_in_operation())


@pytest.mark.django_db
def test_the_webhooks_test_event_carries_its_registered_fields(settings):
    settings.TRADENET_WEBHOOK_ALLOW_PRIVATE = True
    endpoint, _ = endpoint_create(owner=UserFactory(), url="http://127.0.0.1:9/hook")
    delivery = send_test_event(endpoint=endpoint)
    assert delivery.event_type == WEBHOOK_TEST
    registered = events.REGISTRY[WEBHOOK_TEST].payload
    assert sorted(json.loads(delivery.body)) == sorted([*registered, "published_at"])
