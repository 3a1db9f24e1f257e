"""No tenant can disturb the webhook sender: an endpoint deleted while its delivery is on its
way, or the writer's connection lost, leaves the sender and every other endpoint's deliveries
alone; the sender connects only to addresses the target rules were applied to; the endpoint
API bounds what it is given and answers 400s naming the field."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket

import pytest
from aiohttp.abc import AbstractResolver
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory.services import operator_grant
from tests.factories import StationFactory, UserFactory
from tests.helpers import wait_for
from tests.updates.integrations.webhooks.test_webhooks import Receiver
from updates.integrations.webhooks.api import MAX_STATIONS
from updates.integrations.webhooks.attempts import Pending, Signer, new_session, post
from updates.integrations.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from updates.integrations.webhooks.security import (
    RefusedTarget,
    check_target,
    checked_resolver,
    new_secret,
    refusal,
    seal,
)
from updates.integrations.webhooks.sender import WebhookSender
from updates.integrations.webhooks.services import endpoint_create, wake_sender


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


# The target rules


@pytest.mark.parametrize(
    "address, allowed",
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.0.0.5", False),
        ("100.64.0.1", False),  # shared address space (carrier-grade NAT)
        ("169.254.169.254", False),  # cloud metadata
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        # Translation prefixes, judged by the IPv4 address they lead to:
        ("64:ff9b::7f00:1", False),  # NAT64 to 127.0.0.1
        ("64:ff9b::a00:5", False),  # NAT64 to 10.0.0.5
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 to 169.254.169.254
        ("64:ff9b::808:808", True),  # NAT64 to 8.8.8.8: how an IPv6-only network gets out
        ("::ffff:127.0.0.1", False),  # IPv4-mapped
        ("::ffff:8.8.8.8", True),
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:a00:5::1", False),  # 6to4 of 10.0.0.5
        ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
        # ... or refused whatever they carry:
        ("64:ff9b:1::808:808", False),  # local-use NAT64
        ("::8.8.8.8", False),  # IPv4-compatible (deprecated)
        ("::127.0.0.1", False),
        ("::ffff:0:808:808", False),  # SIIT IPv4-translated
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
    ],
)
def test_the_target_rules(address, allowed):
    assert (refusal(ipaddress.ip_address(address)) is None) is allowed


def test_a_url_with_a_port_out_of_range_or_nat64_to_loopback_is_refused(settings):
    settings.TRADENET_WEBHOOK_ALLOW_PRIVATE = False
    for url in ("https://hooks.example.com:99999/x", "https://hooks.example.com:0/x",
                "http://[64:ff9b::7f00:1]/x", "http://[::ffff:10.0.0.1]:8080/x"):  # fmt: skip
        with pytest.raises(RefusedTarget):
            check_target(url)
    check_target("http://[64:ff9b::808:808]/x")  # NAT64 to a public address; no DNS asked
    settings.TRADENET_WEBHOOK_ALLOW_PRIVATE = True  # development: private targets allowed ...
    check_target("http://[64:ff9b::7f00:1]/x")
    with pytest.raises(RefusedTarget):  # ... but not a port that does not exist
        check_target("http://127.0.0.1:99999/x")


# The endpoint API


def test_bad_urls_are_a_400_naming_url(api, db, settings):
    settings.TRADENET_WEBHOOK_ALLOW_PRIVATE = False
    dispatch = api(UserFactory(username="dispatch", is_superuser=True))
    for url in ("https://hooks.example.com:99999/x", "http://[64:ff9b::7f00:1]/x"):
        refused = dispatch.post("/api/webhooks/", {"url": url}, format="json")
        assert refused.status_code == 400, (url, refused.content)
        body = refused.json()
        assert body["code"] == "invalid" and list(body["errors"]) == ["url"], body
        assert body["message"].startswith("url: "), body
    made = dispatch.post("/api/webhooks/", {"url": "http://[64:ff9b::808:808]/x"}, format="json")
    assert made.status_code == 201, made.json()
    changed = dispatch.patch(
        f"/api/webhooks/{made.json()['id']}/", {"url": "http://10.0.0.1:99999/"}, format="json"
    )
    assert changed.status_code == 400 and list(changed.json()["errors"]) == ["url"]


def test_an_endpoints_stations_are_bounded_and_read_in_one_query(api, db, settings):
    settings.TRADENET_WEBHOOK_ALLOW_PRIVATE = True
    stations = [StationFactory(code=f"st-{n:03}") for n in range(MAX_STATIONS + 1)]
    ana = UserFactory(username="ana")
    operator_grant(user=ana, stations=stations)
    client = api(ana)

    def register(codes):
        with CaptureQueriesContext(connection) as queries:
            answer = client.post(
                "/api/webhooks/", {"url": "http://127.0.0.1:9/x", "stations": codes}, format="json"
            )
        return answer, len(queries)

    codes = [s.code for s in stations]
    register(codes[:1])  # what a first request reads once (caches)
    few, few_queries = register(codes[:2])
    assert few.status_code == 201, few.json()
    assert few.json()["stations"] == codes[:2]
    most, most_queries = register(codes[:MAX_STATIONS])
    assert most.status_code == 201, most.json()
    assert sorted(most.json()["stations"]) == codes[:MAX_STATIONS]
    assert most_queries == few_queries  # not one more per station

    too_many, _ = register(codes)
    assert too_many.status_code == 400
    assert list(too_many.json()["errors"]) == ["stations"], too_many.json()
    assert str(MAX_STATIONS) in too_many.json()["errors"]["stations"][0]
    unknown, _ = register(["st-000", "nowhere"])
    assert unknown.status_code == 400
    assert "nowhere" in unknown.json()["errors"]["stations"][0]
    assert WebhookEndpoint.objects.count() == 3


# Where the sender connects


class FakeDNS(AbstractResolver):
    """Answers every question with the next of `answers` (the last one again when they run
    out), and notes the questions: the resolver seam the sender's connections ask."""

    def __init__(self, *answers: list[str]):
        self.answers, self.asked = list(answers), []

    async def resolve(self, host, port=0, family=socket.AF_INET):
        self.asked.append(host)
        addresses = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return [
            {"hostname": host, "host": a, "port": port, "proto": 0, "flags": 0,
             "family": socket.AF_INET6 if ":" in a else socket.AF_INET}
            for a in addresses
        ]  # fmt: skip

    async def close(self):
        pass


def send(lookup, url: str, times: int):
    """`times` POSTs of one delivery to `url` as the sender makes them, names answered by
    `lookup`; their outcomes."""
    delivery = Pending(1, 1, "msg-1", "webhook.test", [], 0, True, url,
                       (seal(new_secret()),), "{}")  # fmt: skip

    async def run():
        resolver = checked_resolver(lookup)
        session = new_session(resolver)
        try:
            return [await post(session, Signer(), delivery) for _ in range(times)]
        finally:
            await session.close()
            await resolver.close()

    return asyncio.run(run())


def test_the_sender_connects_only_to_addresses_it_checked(receiver, settings, monkeypatch):
    port = receiver.server.server_address[1]
    url = f"http://hooks.rebinding.test:{port}/hook"
    settings.TRADENET_WEBHOOK_TIMEOUT_SECONDS = 1
    # The seam is where connections get their addresses: with private targets allowed
    # (development), the fake DNS's loopback answer is where the POSTs go.
    settings.TRADENET_WEBHOOK_ALLOW_PRIVATE = True
    [reached] = send(FakeDNS(["127.0.0.1"]), url, times=1)
    assert reached.status == 200 and len(receiver.at("/hook")) == 1

    settings.TRADENET_WEBHOOK_ALLOW_PRIVATE = False
    # A rebinding name: a public address when the endpoint is registered (check_target), and
    # loopback when the sender asks again. Each connection asks once and goes only where that
    # answer, checked, says: the loopback answer is refused. (Nothing here connects to the
    # public address: a test sends nothing off this machine.)
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, 0, 0, "", ("8.8.8.8", port))]
    )
    check_target(url)  # registration: accepted
    dns = FakeDNS(["127.0.0.1"])
    first, again = send(dns, url, times=2)
    assert dns.asked == ["hooks.rebinding.test"] * 2  # no answer kept for the second
    for rebound in (first, again):
        assert rebound.status is None and "RefusedTarget" in rebound.error, rebound
        assert "127.0.0.1" in rebound.error
    # A public address beside a private one refuses the name, without connecting anywhere.
    [mixed] = send(FakeDNS(["8.8.8.8", "127.0.0.1"]), url, times=1)
    assert "RefusedTarget" in mixed.error and mixed.duration_ms < 1000, mixed
    # NAT64 to loopback, as a name's answer or in the URL.
    [nat64] = send(FakeDNS(["64:ff9b::7f00:1"]), url, times=1)
    assert "RefusedTarget" in nat64.error, nat64
    [literal] = send(FakeDNS(["8.8.8.8"]), f"http://[64:ff9b::7f00:1]:{port}/hook", times=1)
    assert "RefusedTarget" in literal.error, literal
    assert len(receiver.at("/hook")) == 1  # nothing reached loopback but the allowed one


# The sender, undisturbed


class Sender(WebhookSender):
    """The sender as the servers run it, in this process, counting its spells of work: a
    second spell is a restart, which cancels every delivery on its way."""

    application_name = "test-webhook-sender"  # its connections, told apart in pg_stat_activity

    def __init__(self):
        super().__init__()
        self.spells = 0

    def serve(self, conn) -> None:
        self.spells += 1
        super().serve(conn)


@pytest.fixture
def sender(monkeypatch, settings):
    monkeypatch.delenv("PGAPPNAME", raising=False)
    settings.TRADENET_WEBHOOK_ALLOW_PRIVATE = True  # the receivers are on loopback
    worker = Sender()
    worker.start()
    assert wait_for(lambda: worker.active, timeout=30)
    yield worker
    worker.stop(timeout=15)


def queue(endpoint: WebhookEndpoint, prefix: str, count: int) -> list[str]:
    now = timezone.now()
    message_ids = [f"{prefix}-{n}" for n in range(count)]
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint=endpoint,
            message_id=m,
            event_type="webhook.test",
            body="{}",
            stations=[],
            next_attempt_at=now,
        )
        for m in message_ids
    )
    wake_sender()
    return message_ids


def received_ids(receiver: Receiver, path: str) -> list[str]:
    return [headers["webhook-id"] for headers, _, _ in receiver.at(path)]


def all_delivered(endpoint: WebhookEndpoint, count: int):
    return lambda: endpoint.deliveries.filter(state="delivered").count() == count


@pytest.mark.django_db(transaction=True)
def test_an_endpoint_deleted_mid_flight_disturbs_no_other(api, receiver, sender, caplog):
    caplog.set_level(logging.WARNING)
    owner = UserFactory(username="tenant", is_superuser=True)
    gone, _ = endpoint_create(owner=owner, url=f"{receiver.url}/gone")
    steady, _ = endpoint_create(owner=owner, url=f"{receiver.url}/steady")
    # /gone answers after its endpoint is deleted (a delete takes milliseconds; the slack is
    # for a loaded machine), and meanwhile /steady has deliveries on their way: 120, 16 at a
    # time, half a second each, until well after /gone's answer is written.
    receiver.slow["/gone"] = 2.5
    receiver.slow["/steady"] = 0.5
    expected = queue(steady, "steady", 120)
    queue(gone, "gone", 1)

    assert wait_for(lambda: receiver.at_once.get("/gone"), timeout=30)  # on its way
    assert api(owner).delete(f"/api/webhooks/{gone.pk}/").status_code == 204
    assert not WebhookDelivery.objects.filter(endpoint_id=gone.pk).exists()

    assert wait_for(all_delivered(steady, len(expected)), timeout=60)
    assert wait_for(lambda: len(receiver.at("/gone")) == 1, timeout=30)  # it was answered
    arrived = received_ids(receiver, "/steady")
    assert sorted(arrived) == sorted(expected)  # every one, once: nothing cancelled, resent
    assert WebhookAttempt.objects.filter(delivery__endpoint=steady).count() == len(expected)
    assert sender.spells == 1 and sender.active  # never restarted
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text

    # And it goes on sending.
    more = queue(steady, "later", 5)
    assert wait_for(all_delivered(steady, len(expected) + len(more)), timeout=30)
    assert sorted(received_ids(receiver, "/steady")) == sorted(expected + more)


@pytest.mark.django_db(transaction=True)
def test_the_writers_connection_lost_is_made_again_without_a_restart(receiver, sender):
    owner = UserFactory(username="tenant", is_superuser=True)
    endpoint, _ = endpoint_create(owner=owner, url=f"{receiver.url}/steady")
    first = queue(endpoint, "first", 10)
    assert wait_for(all_delivered(endpoint, len(first)), timeout=30)

    with connection.cursor() as cursor:  # the writer's: the sender's that holds no lock
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s AND pid NOT IN "
            "(SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)",
            [Sender.application_name],
        )
        assert [row[0] for row in cursor.fetchall()] == [True]

    receiver.slow["/steady"] = 0.2
    second = queue(endpoint, "second", 40)
    assert wait_for(all_delivered(endpoint, len(first) + len(second)), timeout=60)
    assert sorted(received_ids(receiver, "/steady")) == sorted(first + second)  # none twice
    assert sender.spells == 1 and sender.active


@pytest.mark.django_db
def test_an_endpoint_deleted_in_the_admin_goes_with_its_deliveries(client, settings, monkeypatch):
    """The admin deletes as the API does (endpoint_delete: the endpoint locked first)."""
    from django.urls import reverse

    from updates.integrations.webhooks import admin as webhooks_admin

    deleted = []
    service = webhooks_admin.endpoint_delete
    monkeypatch.setattr(
        webhooks_admin,
        "endpoint_delete",
        lambda *, endpoint: deleted.append(endpoint.pk) or service(endpoint=endpoint),
    )

    settings.TRADENET_WEBHOOK_ALLOW_PRIVATE = True
    owner = UserFactory(username="hook-owner")
    operator_grant(user=owner, stations=[StationFactory(code="ceres-prime")])
    endpoint, _ = endpoint_create(owner=owner, url="http://127.0.0.1:9/hook")
    WebhookDelivery.objects.create(
        endpoint=endpoint, message_id="msg-admin", event_type="webhook.test", body="{}"
    )
    client.force_login(owner)

    answer = client.post(
        reverse("admin:updates_webhookendpoint_delete", args=[endpoint.pk]), {"post": "yes"}
    )

    assert answer.status_code == 302
    assert deleted == [endpoint.pk]
    assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
