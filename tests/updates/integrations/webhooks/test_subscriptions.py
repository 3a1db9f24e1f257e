"""What a webhook endpoint may subscribe to: the public event types of the registry
(core.events.public_types()), and nothing else, refused on `event_types` by the API (400), the
admin (a form error) and the services the two call."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from cargo.events import CARGO_UPDATED
from core import events
from inventory.services import operator_grant
from tests.factories import StationFactory, UserFactory
from trades.events import TRADE_INITIATED
from updates.integrations.webhooks.models import WebhookEndpoint
from updates.integrations.webhooks.services import endpoint_create, endpoint_update
from updates.streams.events import STREAM_REVOKED

pytestmark = pytest.mark.django_db


@pytest.fixture
def ana(settings):
    settings.TRADENET_WEBHOOK_ALLOW_PRIVATE = True
    ana = UserFactory(username="ana", is_staff=True)
    operator_grant(user=ana, stations=[StationFactory(code="ceres-prime")])
    return ana


def test_the_api_refuses_an_unknown_or_internal_type_on_event_types(api, ana):
    client = api(ana)
    for refused in ("nope", STREAM_REVOKED):
        answer = client.post(
            "/api/webhooks/",
            {"url": "http://127.0.0.1:9/x", "event_types": [TRADE_INITIATED, refused]},
            format="json",
        )
        assert answer.status_code == 400, answer.json()
        assert answer.json()["errors"] == {
            "event_types[1]": [f'"{refused}" is not an event type to subscribe to.']
        }
        assert answer.json()["message"].startswith("event_types[1]: ")
    assert not WebhookEndpoint.objects.exists()
    made = client.post(
        "/api/webhooks/",
        {"url": "http://127.0.0.1:9/x", "event_types": list(events.public_types())},
        format="json",
    )
    assert made.status_code == 201, made.json()
    assert made.json()["event_types"] == sorted(events.public_types())
    changed = client.patch(
        f"/api/webhooks/{made.json()['id']}/", {"event_types": ["nope"]}, format="json"
    )
    assert changed.status_code == 400 and "event_types[0]" in changed.json()["errors"]


def test_the_admin_offers_the_public_types_and_refuses_any_other(client, ana):
    client.force_login(ana)
    form = client.get("/admin/updates/webhookendpoint/add/").context["adminform"].form
    offered = [value for value, _ in form.fields["event_types"].choices]
    assert offered == list(events.public_types())
    refused = client.post(
        "/admin/updates/webhookendpoint/add/",
        {"url": "http://127.0.0.1:9/ana", "event_types": ["trade.initiated", "nope"],
         "is_active": "on",
         "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0",
         "deliveries-MIN_NUM_FORMS": "0", "deliveries-MAX_NUM_FORMS": "0"},
    )  # fmt: skip
    assert refused.status_code == 200  # the form again, with its error
    errors = refused.context["adminform"].form.errors
    assert list(errors) == ["event_types"] and "nope" in errors["event_types"][0]
    assert not WebhookEndpoint.objects.exists()


def test_the_services_refuse_a_type_no_endpoint_may_receive(ana):
    with pytest.raises(ValidationError) as refused:
        endpoint_create(owner=ana, url="http://127.0.0.1:9/x", event_types=["trade.placed"])
    assert list(refused.value.message_dict) == ["event_types"]
    assert "trade.placed" in refused.value.message_dict["event_types"][0]
    assert not WebhookEndpoint.objects.exists()

    endpoint, _ = endpoint_create(
        owner=ana, url="http://127.0.0.1:9/x", event_types=[CARGO_UPDATED] * 2
    )
    assert endpoint.event_types == [CARGO_UPDATED]
    with pytest.raises(ValidationError) as refused:
        endpoint_update(endpoint=endpoint, event_types=[STREAM_REVOKED])
    assert list(refused.value.message_dict) == ["event_types"]
    endpoint.refresh_from_db()
    assert endpoint.event_types == [CARGO_UPDATED]
