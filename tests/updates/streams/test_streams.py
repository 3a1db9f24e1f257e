"""Live updates over real HTTP: a uvicorn process, real SSE clients, PostgreSQL."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.factories import CommodityFactory, StationFactory, UserFactory, give_stock
from tests.helpers import post_trade, token_header
from tests.sse import SSEClient, close_all

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_trade_through_the_api_reaches_the_stream_after_commit(stream_server, galaxy):
    ana = token_header(galaxy["people"]["ana"])
    with SSEClient(f"{stream_server}/api/updates/real-time/", headers=ana) as client:
        assert client.status == 200
        assert client.headers["content-type"].startswith("text/event-stream")
        assert client.headers["cache-control"].startswith("no-cache")
        assert client.headers["x-accel-buffering"] == "no"
        created = post_trade(stream_server, ana, "ceres-prime", "vesta-yards", 3).json()

        client.next_of("trade.initiated")  # the last of the trade's events
        got = {m.event: m.json for m in client.history}
        initiated = got["trade.initiated"]
        assert initiated["transaction_id"] == created["transaction_id"]
        assert initiated["shipment_id"] == created["cargo"]["shipment_id"]
        assert (initiated["seller"], initiated["buyer"]) == ("ceres-prime", "vesta-yards")
        cargo = got["cargo.created"]
        assert cargo["shipment_id"] == created["cargo"]["shipment_id"]
        assert cargo["transaction_id"] == created["transaction_id"]

    with SSEClient(f"{stream_server}/api/updates/real-time/", headers=ana) as client:
        httpx.patch(
            f"{stream_server}/api/cargo/{created['cargo']['shipment_id']}/",
            json={"status": "in_transit"},
            headers=ana,
        ).raise_for_status()
        got = {m.event: m.json for m in client.drain(3)}
        assert got["cargo.updated"]["status"] == "in_transit"
        assert got["trade.status_changed"]["status"] == "in_transit"
        assert got["trade.status_changed"]["previous_status"] == "initiated"


def test_inventory_changes_carry_station_commodity_and_levels(stream_server, galaxy):
    ana = token_header(galaxy["people"]["ana"])
    with SSEClient(f"{stream_server}/api/updates/stations/ceres-prime/", headers=ana) as client:
        post_trade(stream_server, ana, "ceres-prime", "vesta-yards", 7)
        change = client.next_where("inventory.changed", lambda e: e["kind"] == "dispatch").json
        assert change == change | {
            "station": "ceres-prime",
            "commodity": "water",
            "on_hand": 93,
            "incoming": 0,
        }


def test_a_rolled_back_trade_announces_nothing(stream_server, galaxy):
    ana = token_header(galaxy["people"]["ana"])
    with SSEClient(f"{stream_server}/api/updates/real-time/", headers=ana) as client:
        refused = post_trade(stream_server, ana, "ceres-prime", "vesta-yards", 10_000)
        assert refused.status_code == 409
        assert client.drain(1.5) == []
        accepted = post_trade(stream_server, ana, "ceres-prime", "vesta-yards", 1).json()
        client.next_of("trade.initiated")
        ours = accepted["transaction_id"]
        assert [m.json.get("transaction_id", ours) for m in client.history] == [ours] * len(
            client.history
        )
        on_hand = [m.json["on_hand"] for m in client.history if m.event == "inventory.changed"]
        assert on_hand == [99]  # the refused 10,000 never moved anything


def test_changes_made_outside_the_api_are_streamed_too(stream_server, galaxy):
    """The admin is served by the same process; the shell-style service call goes through the
    same publishing function (cross-process delivery is covered by the Redis test)."""
    staff = galaxy["people"]["staff"]
    staff.set_password("pw-staff-1234")
    staff.is_staff = True
    staff.save()
    with SSEClient(
        f"{stream_server}/api/updates/real-time/", headers=token_header(staff)
    ) as client:
        http = httpx.Client(base_url=stream_server, follow_redirects=False, timeout=30)
        login_page = http.get("/admin/login/")
        csrf = login_page.cookies["csrftoken"]
        http.post(
            "/admin/login/",
            data={"username": "staff", "password": "pw-staff-1234", "csrfmiddlewaretoken": csrf,
                  "next": "/admin/"},
            headers={"Referer": f"{stream_server}/admin/login/"},
        )  # fmt: skip
        ceres, vesta, _ = galaxy["stations"]
        water_id = CommodityFactory._meta.model.objects.get(code="water").pk
        form = {
            "csrfmiddlewaretoken": http.cookies["csrftoken"],
            "seller": ceres.pk,
            "buyer": vesta.pk,
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "0",
            "lines-MIN_NUM_FORMS": "1",
            "lines-MAX_NUM_FORMS": "1000",
            "lines-0-commodity": water_id,
            "lines-0-quantity": "4",
            "lines-0-unit_price": "1.00",
        }
        saved = http.post("/admin/trades/trade/add/", data=form, headers={"Referer": stream_server})
        assert saved.status_code == 302, saved.text[:2000]
        initiated = client.next_of("trade.initiated").json
        assert initiated["items"][0]["quantity"] == 4


def test_reconnecting_with_last_event_id_replays_what_was_missed_in_order(stream_server, galaxy):
    ana = token_header(galaxy["people"]["ana"])
    url = f"{stream_server}/api/updates/real-time/"
    with SSEClient(url, headers=ana) as client:
        post_trade(stream_server, ana, "ceres-prime", "vesta-yards")
        last_seen = client.next_of("trade.initiated").id
    missed = [post_trade(stream_server, ana, "ceres-prime", "titan").json() for _ in range(2)]

    for how in ("header", "query"):
        if how == "header":
            client = SSEClient(url, headers={**ana, "Last-Event-ID": last_seen})
        else:
            client = SSEClient(f"{url}?lastEventId={last_seen}", headers=ana)
        with client:
            replayed = [m for m in client.drain(2) if m.event == "trade.initiated"]
            assert [m.json["transaction_id"] for m in replayed] == [
                t["transaction_id"] for t in missed
            ]
            ids = [int(m.id) for m in replayed]
            assert ids == sorted(ids) and ids[0] > int(last_seen)


def test_a_client_too_far_behind_gets_stream_reset(stream_server, galaxy):
    ana = token_header(galaxy["people"]["ana"])
    url = f"{stream_server}/api/updates/real-time/"
    with SSEClient(url, headers=ana) as client:
        post_trade(stream_server, ana, "ceres-prime", "vesta-yards")
        last_seen = client.next_of("trade.initiated").id
    for _ in range(6):  # about 5 events each; the server replays at most 20
        post_trade(stream_server, ana, "ceres-prime", "titan")
    with SSEClient(url, headers={**ana, "Last-Event-ID": last_seen}) as client:
        reset = client.next()
        assert reset.event == "stream-reset"
        assert int(reset.id) == reset.json["last_event_id"] > int(last_seen)
        # It then carries on live.
        post_trade(stream_server, ana, "ceres-prime", "titan")
        assert client.next_of("trade.initiated").json["buyer"] == "titan"


def test_keep_alives_flow_while_nothing_happens(stream_server, galaxy):
    with SSEClient(
        f"{stream_server}/api/updates/real-time/", headers=token_header(galaxy["people"]["ana"])
    ) as client:
        client.drain(2.5)
        assert client.comments.count("keep-alive") >= 2


class TestWhoMayListen:
    def test_anonymous_is_401(self, stream_server, galaxy):
        response = httpx.get(f"{stream_server}/api/updates/real-time/", timeout=10)
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        bad = httpx.get(
            f"{stream_server}/api/updates/real-time/",
            headers={"Authorization": "Token nope"},
            timeout=10,
        )
        assert bad.status_code == 401

    def test_a_station_stream_is_for_its_operators_and_staff(self, stream_server, galaxy):
        people = galaxy["people"]
        url = f"{stream_server}/api/updates/stations/ceres-prime/"
        assert httpx.get(url, headers=token_header(people["bo"]), timeout=10).status_code == 403
        nowhere = f"{stream_server}/api/updates/stations/atlantis/"
        assert httpx.get(nowhere, headers=token_header(people["bo"]), timeout=10).status_code == 404
        for who in ("ana", "staff"):
            with SSEClient(url, headers=token_header(people[who])) as client:
                assert client.status == 200

    def test_a_shipment_stream_is_for_either_end(self, stream_server, galaxy):
        people = galaxy["people"]
        ana = token_header(people["ana"])
        shipment = post_trade(stream_server, ana, "ceres-prime", "vesta-yards").json()["cargo"]
        url = f"{stream_server}/api/updates/cargo/{shipment['shipment_id']}/"
        assert httpx.get(url, headers=token_header(people["cy"]), timeout=10).status_code == 403
        with SSEClient(url, headers=token_header(people["bo"])) as client:
            httpx.patch(
                f"{stream_server}/api/cargo/{shipment['shipment_id']}/",
                json={"location_note": "passing Mars"},
                headers=ana,
            ).raise_for_status()
            post_trade(stream_server, ana, "ceres-prime", "vesta-yards")  # another shipment
            got = client.drain(2)
            assert [m.event for m in got] == ["cargo.updated"]
            assert got[0].json["location_note"] == "passing Mars"

    def test_the_all_stream_shows_only_the_callers_stations(self, stream_server, galaxy):
        people = galaxy["people"]
        ana, bo = token_header(people["ana"]), token_header(people["bo"])
        url = f"{stream_server}/api/updates/real-time/"
        cy_header, staff_header = token_header(people["cy"]), token_header(people["staff"])
        with (
            SSEClient(url, headers=cy_header) as cy,
            # Naming channels in the query string does not widen anything.
            SSEClient(f"{url}?channel=all&channels=ceres-prime", headers=cy_header) as cy_widening,
            SSEClient(url, headers=staff_header) as staff,
        ):
            post_trade(stream_server, ana, "ceres-prime", "vesta-yards")  # not titan's business
            post_trade(stream_server, bo, "vesta-yards", "titan")  # titan is the buyer
            staff_events = [
                m.json.get("transaction_id") for m in staff.drain(2) if m.event == "trade.initiated"
            ]
            assert len(staff_events) == 2
            for client in (cy, cy_widening):
                seen = client.drain(1)
                assert seen, "titan's own trade must be streamed"
                for message in seen:
                    body = message.json
                    stations = {body.get("seller"), body.get("buyer"), body.get("station"),
                                body.get("origin"), body.get("destination")} - {None}  # fmt: skip
                    assert "titan" in stations, message


def test_a_management_command_reaches_open_streams_without_redis(stream_server, galaxy, tmp_path):
    """One server process and no Redis (as `make run`): PostgreSQL NOTIFY carries the news."""
    import json
    import subprocess
    import sys

    from tests.servers import ROOT, server_env

    staff = token_header(galaxy["people"]["staff"])
    with SSEClient(f"{stream_server}/api/updates/real-time/", headers=staff) as client:
        outpost = tmp_path / "outpost.json"
        outpost.write_text(
            json.dumps(
                {
                    "stations": [{"code": "rim-outpost", "name": "Rim Outpost", "x": 901.5}],
                    "stock": [{"station": "rim-outpost", "commodity": "water", "quantity": 9}],
                }
            )
        )
        env = server_env()
        env.pop("REDIS_URL", None)
        done = subprocess.run(
            [sys.executable, "manage.py", "seed_stations", "--file", str(outpost)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        change = client.next_where(
            "inventory.changed", lambda e: e["station"] == "rim-outpost", timeout=30
        ).json
        assert (change["station"], change["on_hand"]) == ("rim-outpost", 9)


def test_a_revoked_token_ends_its_open_streams_within_seconds(stream_server):
    revoked = token_header(UserFactory(username="leaver", is_superuser=True))
    kept = token_header(UserFactory(username="stayer", is_superuser=True))
    url = f"{stream_server}/api/updates/real-time/"
    with SSEClient(url, headers=revoked) as leaving, SSEClient(url, headers=kept) as staying:
        assert (leaving.status, staying.status) == (200, 200)
        gone = httpx.post(f"{stream_server}/api/auth/token/revoke/", headers=revoked, timeout=10)
        assert gone.status_code == 204
        assert leaving.ended(timeout=20)
        assert not staying.ended(timeout=0.5)
    assert httpx.get(url, headers=revoked, timeout=10).status_code == 401


def test_a_deactivated_user_loses_open_streams_within_seconds(stream_server):
    user = UserFactory(username="suspended", is_superuser=True)
    headers = token_header(user)
    with SSEClient(f"{stream_server}/api/updates/real-time/", headers=headers) as stream:
        assert stream.status == 200
        type(user).objects.filter(pk=user.pk).update(is_active=False)
        assert stream.ended(timeout=20)


@pytest.mark.slow
def test_one_user_holds_at_most_the_cap_of_streams_across_processes(django_db_blocker):
    from tests.servers import server_env, uvicorn_server

    greedy = token_header(UserFactory(username="greedy", is_superuser=True))
    other = token_header(UserFactory(username="modest", is_superuser=True))
    env = server_env(TRADENET_SSE_MAX_STREAMS_PER_USER="3")
    with django_db_blocker.unblock(), uvicorn_server(workers=2, env=env) as server:
        url = f"{server}/api/updates/real-time/"
        held = [SSEClient(url, headers=greedy) for _ in range(3)]  # over both workers
        try:
            assert [s.status for s in held] == [200] * 3
            refused = httpx.get(url, headers=greedy, timeout=10)
            assert refused.status_code == 429
            assert refused.json()["code"] == "too_many_streams"
            assert int(refused.headers["retry-after"]) > 0
            with SSEClient(url, headers=other) as theirs:  # another user is not affected
                assert theirs.status == 200
            held.pop().close()
            deadline = time.monotonic() + 20
            while True:  # the closed stream's place is given back
                with SSEClient(url, headers=greedy) as again:
                    if again.status == 200:
                        break
                assert time.monotonic() < deadline, "the closed stream's place never came back"
                time.sleep(0.2)
        finally:
            close_all(held)


@pytest.mark.slow
def test_streams_over_two_workers_without_redis_log_no_errors(django_db_blocker):
    """Two processes, each told of every event through NOTIFY: their duplicate checks must not
    cry wolf (once ~30 false ERROR lines a second)."""
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    from tests.servers import server_env, uvicorn_server

    ceres = StationFactory(code="ceres-prime")
    StationFactory(code="titan")
    give_stock(ceres, CommodityFactory(code="water"), 100)
    staff = token_header(UserFactory(username="staff", is_superuser=True))
    env = server_env(DJANGO_LOG_LEVEL="WARNING")
    env.pop("REDIS_URL", None)
    with django_db_blocker.unblock(), uvicorn_server(workers=2, env=env) as server:
        url = f"{server}/api/updates/real-time/"
        streams = [SSEClient(url, headers=staff) for _ in range(6)]  # over both workers
        try:
            # Trades at once, so notifications trail events that were stored after them.
            with ThreadPoolExecutor(8) as pool:
                made = list(
                    pool.map(
                        lambda _: post_trade(server, staff, "ceres-prime", "titan").json(),
                        range(24),
                    )
                )
            for stream in streams:
                seen = set()
                while len(seen) < len(made):
                    seen.add(stream.next_of("trade.initiated", timeout=30).json["transaction_id"])
                assert seen == {trade["transaction_id"] for trade in made}
        finally:
            close_all(streams)
        log = Path(server.log_path).read_text()
    errors = [line for line in log.splitlines() if '"level": "ERROR"' in line]
    assert not errors, errors[:3]


def test_when_the_event_log_starts_its_ids_again_open_and_new_streams_get_every_event(
    stream_server, galaxy
):
    """Emptying the event tables (as a test database flush does, under a server that stays up)
    restarts the ids at 1. The process must not take the new events for duplicates of the
    ones it sent under the same ids: the streams already open and those opened afterwards get
    every one of them."""
    from django.db import connection

    ana = token_header(galaxy["people"]["ana"])
    url = f"{stream_server}/api/updates/stations/ceres-prime/"
    with SSEClient(url, headers=ana) as before:
        for quantity in (1, 2, 3):
            post_trade(stream_server, ana, "ceres-prime", "vesta-yards", quantity)
            before.next_of("trade.initiated", timeout=30)
        assert max(int(m.id) for m in before.history) > 6  # ids the next trade reuses

        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE django_eventstream_event, django_eventstream_eventcounter")
        with SSEClient(url, headers=ana) as after:
            placed = post_trade(stream_server, ana, "ceres-prime", "vesta-yards", 4).json()
            for client in (before, after):
                seen = client.next_of("trade.initiated", timeout=30).json
                assert seen["transaction_id"] == placed["transaction_id"]
            kinds = [m.event for m in after.history]
            assert kinds.count("inventory.changed") >= 1 and "cargo.created" in kinds, kinds
