"""Signed webhooks: registration and its rules, then live servers POSTing to real HTTP
receivers: signatures a Standard Webhooks library verifies, only the owner's stations, retries,
a slow endpoint that holds up no other, disabling, rotation, test events, redelivery."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook

from inventory.services import operator_grant
from tests.factories import CommodityFactory, StationFactory, UserFactory, give_stock
from tests.helpers import post_trade, token_header, wait_for
from tests.servers import server_env, uvicorn_server
from tests.sse import SSEClient
from updates.integrations.webhooks.attempts import Pending, choose
from updates.integrations.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from updates.integrations.webhooks.security import unseal
from updates.integrations.webhooks.services import endpoint_create


@pytest.fixture
def operators(db):
    ceres, titan, vesta = (StationFactory(code=c) for c in ("ceres-prime", "titan", "vesta-yards"))
    water = CommodityFactory(code="water")
    for station in (ceres, titan, vesta):
        give_stock(station, water, 1000)
    ana, bo = UserFactory(username="ana", is_staff=True), UserFactory(username="bo")
    operator_grant(user=ana, stations=[ceres])
    operator_grant(user=bo, stations=[titan])
    return {"ana": ana, "bo": bo, "ceres": ceres, "titan": titan, "vesta": vesta}


def test_an_operator_registers_endpoints_for_their_own_stations_only(api, operators, settings):
    settings.TRADENET_WEBHOOK_ALLOW_PRIVATE = True
    ana = api(operators["ana"])
    made = ana.post(
        "/api/webhooks/",
        {"url": "http://127.0.0.1:9/hook", "stations": ["ceres-prime"],
         "event_types": ["trade.initiated"]},
        format="json",
    )  # fmt: skip
    assert made.status_code == 201, made.json()
    assert made.json()["secret"].startswith("whsec_")
    endpoint_id = made.json()["id"]
    assert "secret" not in ana.get(f"/api/webhooks/{endpoint_id}/").json()  # shown once
    # Only a URL: every event type, every station ana operates.
    bare = ana.post("/api/webhooks/", {"url": "http://127.0.0.1:9/all"}, format="json")
    assert bare.status_code == 201, bare.json()
    assert bare.json()["event_types"] == [] and bare.json()["stations"] == []

    foreign = ana.post(
        "/api/webhooks/", {"url": "http://127.0.0.1:9/x", "stations": ["titan"]}, format="json"
    )
    assert foreign.status_code == 400
    assert "titan" in foreign.json()["errors"]["stations"][0]
    bad_type = ana.post(
        "/api/webhooks/", {"url": "http://127.0.0.1:9/x", "event_types": ["nope"]}, format="json"
    )
    assert bad_type.status_code == 400 and "event_types" in json.dumps(bad_type.json())
    # Another operator does not see it, let alone change it.
    assert api(operators["bo"]).get(f"/api/webhooks/{endpoint_id}/").status_code == 404

    settings.TRADENET_WEBHOOK_ALLOW_PRIVATE = False
    for url in ("http://127.0.0.1/hook", "http://169.254.169.254/latest", "http://10.0.0.5/",
                "http://localhost:8000/", "ftp://example.com/"):  # fmt: skip
        refused = ana.post("/api/webhooks/", {"url": url}, format="json")
        assert refused.status_code == 400, (url, refused.json())
        assert "url" in refused.json()["errors"]


def pending(id, *stations, attempts=0, due=True):
    return Pending(id, 1, str(id), "inventory.changed", list(stations), attempts, due,
                            "http://receiver/hook", ("sealed",))  # fmt: skip


def ids(deliveries):
    return [d.id for d in deliveries]


def test_what_goes_out_at_once_keeps_each_stations_events_in_order():
    queue = [pending(1, "ceres"), pending(2, "titan"), pending(3, "ceres", "titan"),
             pending(4, "vesta"), pending(5, "ceres")]  # fmt: skip
    # Side by side unless they share a station with an earlier one not yet answered.
    assert ids(choose(queue, [], window=16)) == [1, 2, 4]
    # 1 answered (settled), 2 still on its way: 3 is about titan too, and 5 comes after 3.
    assert ids(choose(queue, [queue[1]], window=16, settled={1: True})) == [4]
    assert ids(choose(queue, [], window=16, settled={1: True, 2: True})) == [3, 4]
    # No more on their way than the window.
    assert ids(choose(queue, [queue[3]], window=2)) == [1]
    # An event with no station (a test event) waits for nothing.
    assert ids(choose([pending(7)], [pending(6)], window=16)) == [7]


def test_a_failure_pauses_the_endpoint_and_its_retry_goes_alone():
    waiting = [pending(1, "ceres", attempts=1, due=False), pending(2, "titan")]
    assert choose(waiting, [], window=16) == []  # nothing overtakes a retry
    due = [pending(1, "ceres", attempts=1), pending(2, "titan")]
    assert ids(choose(due, [], window=16)) == [1]  # the retry, alone
    assert choose(due[1:], [due[0]], window=16) == []  # while it is on its way
    # An answer not written down yet counts: a failure pauses, a success is skipped.
    fresh = [pending(1, "ceres"), pending(2, "titan")]
    assert choose(fresh, [], window=16, settled={1: False}) == []
    assert ids(choose(fresh, [], window=16, settled={1: True})) == [2]


class Receiver:
    """A real HTTP server; what each path answers is set per test."""

    def __init__(self):
        self.received: list[tuple[str, dict, str, float]] = []
        self.behaviour: dict[str, list[int]] = {}
        self.slow: dict[str, float] = {}
        self.at_once: dict[str, int] = {}  # most requests of a path being answered at once
        self._busy: dict[str, int] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                with receiver._lock:
                    receiver._busy[self.path] = receiver._busy.get(self.path, 0) + 1
                    receiver.at_once[self.path] = max(
                        receiver.at_once.get(self.path, 0), receiver._busy[self.path]
                    )
                delay = receiver.slow.get(self.path, 0)
                if delay:
                    time.sleep(delay)
                with receiver._lock:
                    receiver._busy[self.path] -= 1
                plan = receiver.behaviour.get(self.path, [])
                code = plan.pop(0) if plan else 200
                receiver.received.append(
                    (
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        time.monotonic(),
                    )
                )
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok" if code < 300 else b"try again later")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def at(self, path: str) -> list[tuple[dict, str, float]]:
        return [(h, b, t) for p, h, b, t in self.received if p == path]

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def live_env(**extra):
    """Servers that may post to the loopback receivers, with short retries."""
    settings = {
        "TRADENET_WEBHOOK_ALLOW_PRIVATE": "1",
        "TRADENET_WEBHOOK_RETRY_SCHEDULE": "0.5,0.5,0.5,0.5",
        "TRADENET_WEBHOOK_TIMEOUT_SECONDS": "3",
    }
    return server_env(**{**settings, **extra})


@pytest.mark.django_db(transaction=True)
def test_signed_deliveries_of_the_owners_stations_with_retries_and_no_hold_up(
    operators, receiver, settings
):
    settings.TRADENET_WEBHOOK_ALLOW_PRIVATE = True  # the receivers are on loopback
    ana = operators["ana"]
    _, secret = endpoint_create(owner=ana, url=f"{receiver.url}/ok", event_types=[], stations=[])
    endpoint_create(
        owner=ana, url=f"{receiver.url}/flaky", event_types=["trade.initiated"], stations=[]
    )
    endpoint_create(
        owner=ana, url=f"{receiver.url}/slow", event_types=["trade.initiated"], stations=[]
    )
    endpoint_create(owner=ana, url=f"{receiver.url}/late", event_types=[], stations=[])
    receiver.behaviour["/flaky"] = [500, 500, 500]  # then 200: the fourth attempt
    receiver.behaviour["/late"] = [503] * 3  # down for a while
    receiver.slow["/slow"] = 6  # longer than the 3 s timeout: every attempt fails, slowly
    staff = token_header(UserFactory(username="staff", is_superuser=True))
    with (
        uvicorn_server(env=live_env()) as server,
        SSEClient(f"{server}/api/updates/real-time/", headers=staff) as stream,
    ):
        started = time.monotonic()
        ours = post_trade(server, staff, "ceres-prime", "titan").json()
        post_trade(server, staff, "titan", "vesta-yards")  # not ana's business
        for _ in range(2):
            stream.next_of("trade.initiated", timeout=30)
        ceres_ids = {m.id for m in stream.history if "ceres-prime" in json.dumps(m.json)}

        def ids_at_ok():
            return {headers["webhook-id"] for headers, _, _ in receiver.at("/ok")}

        assert wait_for(lambda: ids_at_ok() >= ceres_ids, timeout=60), (ids_at_ok(), ceres_ids)
        got = receiver.at("/ok")
        # Signed as the Standard Webhooks spec says; the id is the stream's; only events about
        # ana's station (its opening stock included), none of the titan -> vesta trade.
        for headers, body, _ in got:
            assert Webhook(secret).verify(body, headers)
            assert "ceres-prime" in body, body
        initiated = [json.loads(b) for h, b, _ in got if "transaction_id" in json.loads(b)]
        assert {p["transaction_id"] for p in initiated} == {ours["transaction_id"]}
        # The slow endpoint held up nobody: all of /ok arrived before its first answer.
        assert max(t for _, _, t in got) - started < 6

        # Retried until it answered 2xx, every attempt logged.
        assert wait_for(
            lambda: WebhookDelivery.objects.filter(
                endpoint__url__endswith="/flaky", state="delivered"
            ).exists(),
            timeout=60,
        )
        flaky = WebhookDelivery.objects.get(endpoint__url__endswith="/flaky")
        assert [a.status_code for a in flaky.attempt_log.all()] == [500, 500, 500, 200]
        assert flaky.attempt_log.last().response_excerpt == "ok"
        # The receiver that was down caught up, in the log's order.
        assert wait_for(
            lambda: {h["webhook-id"] for h, _, _ in receiver.at("/late")} >= ids_at_ok(),
            timeout=60,
        )
        late = [int(h["webhook-id"]) for h, _, _ in receiver.at("/late")]
        first_arrivals = list(dict.fromkeys(late))
        assert first_arrivals == sorted(first_arrivals), late

        # The slow one: given up after its retries, each attempt a timeout.
        assert wait_for(
            lambda: WebhookDelivery.objects.filter(
                endpoint__url__endswith="/slow", state="failed"
            ).exists(),
            timeout=90,
        )
        slow_attempts = WebhookAttempt.objects.filter(delivery__endpoint__url__endswith="/slow")
        assert slow_attempts.count() == 5  # the first and four retries
        assert all("Timeout" in a.error for a in slow_attempts)


@pytest.mark.django_db(transaction=True)
def test_disabling_rotation_test_events_and_redelivery(operators, receiver, settings):
    settings.TRADENET_WEBHOOK_ALLOW_PRIVATE = True  # the receivers are on loopback
    ana = operators["ana"]
    down, _ = endpoint_create(owner=ana, url=f"{receiver.url}/down", event_types=[], stations=[])
    receiver.behaviour["/down"] = [500] * 100
    endpoint, old_secret = endpoint_create(
        owner=ana, url=f"{receiver.url}/ok", event_types=[], stations=[]
    )
    ana_token = token_header(ana)
    env = live_env(
        TRADENET_WEBHOOK_RETRY_SCHEDULE="0.3,0.3,0.3,0.3,0.3,0.3,0.3,0.3,0.3,0.3,0.3,0.3",
        TRADENET_WEBHOOK_DISABLE_AFTER_HOURS="0.0005",  # under 2 s without a success
    )
    import httpx

    with uvicorn_server(env=env) as server:
        post_trade(server, token_header(UserFactory(username="s", is_superuser=True)),
                   "ceres-prime", "titan")  # fmt: skip
        assert wait_for(lambda: not WebhookEndpoint.objects.get(pk=down.pk).is_active, timeout=60)
        shown = httpx.get(f"{server}/api/webhooks/{down.pk}/", headers=ana_token, timeout=10)
        assert "no successful delivery since" in shown.json()["disabled_reason"]
        assert "HTTP 500" in shown.json()["disabled_reason"]

        rotated = httpx.post(
            f"{server}/api/webhooks/{endpoint.pk}/rotate-secret/", headers=ana_token, timeout=10
        )
        new_secret = rotated.json()["secret"]
        before = len(receiver.at("/ok"))
        test = httpx.post(f"{server}/api/webhooks/{endpoint.pk}/test/", headers=ana_token,
                          timeout=10)  # fmt: skip
        assert test.status_code == 202
        assert wait_for(lambda: len(receiver.at("/ok")) > before, timeout=30)
        headers, body, _ = receiver.at("/ok")[-1]
        assert headers["webhook-id"].startswith("test-")
        assert len(headers["webhook-signature"].split(" ")) == 2  # during the overlap
        assert Webhook(old_secret).verify(body, headers) and Webhook(new_secret).verify(
            body, headers
        )

        log = httpx.get(f"{server}/api/webhooks/{endpoint.pk}/deliveries/", headers=ana_token,
                        timeout=10).json()["results"]  # fmt: skip
        first = log[-1]
        assert first["state"] == "delivered" and first["attempt_log"][0]["status_code"] == 200
        again = httpx.post(
            f"{server}/api/webhooks/{endpoint.pk}/deliveries/{first['id']}/redeliver/",
            headers=ana_token,
            timeout=10,
        )
        assert again.status_code == 202
        assert wait_for(
            lambda: (
                [h["webhook-id"] for h, _, _ in receiver.at("/ok")].count(first["message_id"]) == 2
            ),
            timeout=30,
        )


def test_an_operator_manages_their_endpoints_in_the_admin(client, operators, settings):
    settings.TRADENET_WEBHOOK_ALLOW_PRIVATE = True
    endpoint_create(owner=operators["bo"], url="http://127.0.0.1:9/bo", event_types=[],
                             stations=[])  # fmt: skip
    client.force_login(operators["ana"])
    assert client.get("/admin/updates/webhookendpoint/add/").status_code == 200
    added = client.post(
        "/admin/updates/webhookendpoint/add/",
        {"url": "http://127.0.0.1:9/ana", "event_types": ["trade.initiated", "cargo.updated"],
         "stations": [operators["ceres"].pk], "is_active": "on",
         # the inline's management form, as the page sends it
         "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0",
         "deliveries-MIN_NUM_FORMS": "0", "deliveries-MAX_NUM_FORMS": "0"},
    )  # fmt: skip
    assert added.status_code == 302, added.content.decode()[-3000:]
    mine = WebhookEndpoint.objects.get(url="http://127.0.0.1:9/ana")
    assert mine.owner == operators["ana"] and unseal(mine.secret_sealed).startswith("whsec_")
    assert mine.event_types == ["cargo.updated", "trade.initiated"]
    listing = client.get("/admin/updates/webhookendpoint/").content.decode()
    assert "127.0.0.1:9/ana" in listing and "127.0.0.1:9/bo" not in listing
    assert client.get("/admin/updates/webhookdelivery/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_an_endpoint_gets_several_at_once_and_each_stations_events_in_order(receiver, settings):
    settings.TRADENET_WEBHOOK_ALLOW_PRIVATE = True
    water = CommodityFactory(code="water")
    stations = [StationFactory(code=f"st-{n}") for n in range(8)]
    for station in stations:
        give_stock(station, water, 1000)
    staff = UserFactory(username="dispatch", is_superuser=True)
    endpoint_create(owner=staff, url=f"{receiver.url}/all", event_types=[], stations=[])
    receiver.slow["/all"] = 0.4  # a receiver that takes its time: the others go side by side
    receiver.behaviour["/all"] = [503] * 2  # and down at first: the catch-up keeps the order
    headers = token_header(staff)
    with uvicorn_server(env=live_env()) as server:
        # Four trades between stations with nothing in common, then two that link them.
        pairs = [(0, 1), (2, 3), (4, 5), (6, 7), (1, 2), (5, 6)]
        for seller, buyer in pairs:
            placed = post_trade(server, headers, f"st-{seller}", f"st-{buyer}")
            assert placed.status_code == 201, placed.json()
        trade_deliveries = WebhookDelivery.objects.filter(event_type__startswith="trade")
        assert wait_for(lambda: trade_deliveries.count() == len(pairs), timeout=60)
        expected = set(trade_deliveries.values_list("message_id", flat=True))

        def arrived():
            return [(h["webhook-id"], json.loads(b)) for h, b, _ in receiver.at("/all")]

        assert wait_for(lambda: expected <= {i for i, _ in arrived()}, timeout=60)
        assert wait_for(
            lambda: not WebhookDelivery.objects.filter(state="pending").exists(), timeout=60
        )
    assert receiver.at_once["/all"] > 1  # several on their way at once
    firsts = {}
    for message_id, _ in arrived():
        firsts.setdefault(message_id, len(firsts))
    # Each station's events arrived in the log's order (first arrivals; retries aside).
    for station in stations:
        about = [
            int(d.message_id)
            for d in WebhookDelivery.objects.filter(stations__contains=[station.code])
        ]
        order = sorted(about, key=lambda message_id: firsts[str(message_id)])
        assert order == sorted(about), (station.code, order)


def test_a_deactivated_owners_endpoint_receives_nothing(operators, settings):
    """The audience is inventory.access.receivable_stations, as for streams: a superuser's
    endpoint gets every station's events until that superuser is deactivated, then none (a
    copy of the rule that let `is_superuser` through kept sending everything)."""
    from tests.factories import make_trade
    from updates.integrations.webhooks.fanout import fan_out
    from updates.log.relay import relay_pending

    settings.TRADENET_WEBHOOK_ALLOW_PRIVATE = True
    boss = UserFactory(username="boss", is_superuser=True, is_staff=True)
    endpoint, _ = endpoint_create(owner=boss, url="http://127.0.0.1:9/boss")
    water = operators["ceres"].stock_levels.get().commodity

    make_trade(operators["titan"], operators["vesta"], (water, 1))
    assert fan_out(relay_pending()) > 0  # every station's events, titan's among them
    boss.is_active = False
    boss.save()
    before = WebhookDelivery.objects.filter(endpoint=endpoint).count()
    make_trade(operators["titan"], operators["vesta"], (water, 1))
    assert fan_out(relay_pending()) == 0
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == before
