"""Access changes reach open streams: a user who may no longer receive a station's events
stops receiving them on the streams they opened before, on every server and through Pushpin.

The change itself announces a revocation of the user's streams (updates/streams/revocation.py);
the client reconnects and is given the scope it has now. Behind it, the periodic re-check ends
a stream wider than its user's access, for changes that nothing announces."""

from __future__ import annotations

import json

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

from core.models import OutboxEvent
from inventory.models import Commodity, Station
from inventory.services import operator_grant
from tests.factories import CommodityFactory, StationFactory, UserFactory, give_stock, make_trade
from tests.helpers import post_trade, token_header
from tests.servers import server_env, uvicorn_server
from tests.sse import SSEClient
from updates.streams.events import STREAM_REVOKED

CODES = ("ceres-prime", "vesta-yards", "titan")


def revoked_since(after: int) -> list[int]:
    """The users whose streams the revocations written to the outbox after row `after` end."""
    rows = OutboxEvent.objects.filter(id__gt=after, type=STREAM_REVOKED).order_by("id")
    return [json.loads(json.loads(row.data))["payload"]["user_id"] for row in rows]


def outbox_end() -> int:
    return OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def all_stations_permission() -> Permission:
    return Permission.objects.get(
        content_type__app_label="inventory", codename="act_for_all_stations"
    )


@pytest.fixture
def stations():
    water = CommodityFactory(code="water")
    made = {code: StationFactory(code=code) for code in CODES}
    for station in made.values():
        give_stock(station, water, 1000)
    return made


@pytest.fixture
def dispatch_group():
    group = Group.objects.create(name="dispatch")
    group.permissions.add(all_stations_permission())
    return group


# What each change announces: written in its transaction, read back from the outbox.


@pytest.mark.django_db
@pytest.mark.parametrize(
    "remove",
    [
        lambda ana, ceres: ceres.operators.remove(ana),
        lambda ana, ceres: ana.operated_stations.remove(ceres),
        lambda ana, ceres: ceres.operators.clear(),
        lambda ana, ceres: ana.operated_stations.clear(),
        lambda ana, ceres: ceres.operators.set([]),
        lambda ana, ceres: ana.operated_stations.set([Station.objects.get(code="vesta-yards")]),
    ],
    ids=["station-remove", "user-remove", "station-clear", "user-clear", "station-set", "user-set"],
)
def test_removing_an_operator_from_either_side_revokes_their_streams(stations, remove):
    ana, bo = UserFactory(username="ana"), UserFactory(username="bo")
    operator_grant(user=ana, stations=[stations["ceres-prime"], stations["vesta-yards"]])
    operator_grant(user=bo, stations=[stations["vesta-yards"]])
    start = outbox_end()
    remove(ana, stations["ceres-prime"])
    assert revoked_since(start) == [ana.pk]


@pytest.mark.django_db
def test_the_admins_station_and_user_forms_revoke_what_they_take_away(
    client, stations, dispatch_group
):
    ceres = stations["ceres-prime"]
    ana, bo, dee = (UserFactory(username=name) for name in ("ana", "bo", "dee"))
    operator_grant(user=ana, stations=[ceres])
    operator_grant(user=bo, stations=[ceres])
    dee.groups.add(dispatch_group)
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))

    start = outbox_end()
    form = {"code": ceres.code, "name": ceres.name, "kind": ceres.kind, "x": ceres.x,
            "y": ceres.y, "z": ceres.z, "operators": [bo.pk]}  # fmt: skip
    answer = client.post(f"/admin/inventory/station/{ceres.pk}/change/", form)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    assert set(ceres.operators.all()) == {bo}
    assert revoked_since(start) == [ana.pk]

    start = outbox_end()
    form = {"username": dee.username, "is_active": "on", "groups": [],
            "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"}  # fmt: skip
    answer = client.post(f"/admin/auth/user/{dee.pk}/change/", form)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    assert not dee.groups.exists()
    assert revoked_since(start) == [dee.pk]


@pytest.mark.django_db
def test_what_narrows_no_one_s_access_revokes_nothing(stations, dispatch_group):
    ceres, vesta = stations["ceres-prime"], stations["vesta-yards"]
    ana, dee = UserFactory(username="ana"), UserFactory(username="dee")
    boss = UserFactory(username="boss", is_superuser=True)
    operator_grant(user=ana, stations=[ceres])
    operator_grant(user=dee, stations=[ceres])
    dee.groups.add(dispatch_group)
    dee.user_permissions.add(all_stations_permission())
    boss.operated_stations.add(ceres)
    start = outbox_end()

    operator_grant(user=ana, stations=[vesta])  # widened
    ceres.operators.remove(dee, boss)  # dispatch staff receive every station's events anyway
    dee.groups.remove(dispatch_group)  # dee holds the permission directly as well
    ana.groups.clear()  # ana was never dispatch staff: their streams are as they were
    boss.user_permissions.clear()  # a superuser needs no permission
    ana.save()  # a save that changes no access
    get_user_model().objects.get(pk=boss.pk).save(update_fields=["last_login"])  # a sign-in

    assert revoked_since(start) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "held, demote",
    [
        ("directly", lambda dee, group, permission: dee.user_permissions.remove(permission)),
        ("directly", lambda dee, group, permission: permission.user_set.remove(dee)),
        ("directly", lambda dee, group, permission: dee.user_permissions.clear()),
        ("directly", lambda dee, group, permission: permission.user_set.clear()),
        ("via group", lambda dee, group, permission: dee.groups.remove(group)),
        ("via group", lambda dee, group, permission: dee.groups.set([])),
        ("via group", lambda dee, group, permission: group.user_set.clear()),
        ("via group", lambda dee, group, permission: group.permissions.remove(permission)),
        ("via group", lambda dee, group, permission: permission.group_set.clear()),
        ("via group", lambda dee, group, permission: group.permissions.set([])),
    ],
    ids=[
        "user-permission-removed",
        "permission-user-removed",
        "user-permissions-cleared",
        "permission-users-cleared",
        "group-removed",
        "groups-set",
        "group-users-cleared",
        "group-permission-removed",
        "permission-groups-cleared",
        "group-permissions-set",
    ],
)
def test_losing_dispatch_rights_any_way_revokes_the_users_streams(dispatch_group, held, demote):
    dee = UserFactory(username="dee")
    permission = all_stations_permission()
    if held == "directly":
        dee.user_permissions.add(permission)
    else:
        dee.groups.add(dispatch_group)
    # Touched by the clears too, and dispatch staff after them all the same: nothing to end.
    boss = UserFactory(username="boss", is_superuser=True)
    boss.user_permissions.add(permission)
    boss.groups.add(dispatch_group)
    start = outbox_end()
    demote(dee, dispatch_group, permission)
    assert revoked_since(start) == [dee.pk]


@pytest.mark.django_db
def test_deleting_a_group_revokes_the_streams_of_those_it_made_dispatch_staff(dispatch_group):
    dee, kept = UserFactory(username="dee"), UserFactory(username="kept")
    dee.groups.add(dispatch_group)
    kept.groups.add(dispatch_group)
    kept.user_permissions.add(all_stations_permission())
    start = outbox_end()
    dispatch_group.delete()
    assert revoked_since(start) == [dee.pk]


@pytest.mark.django_db
def test_clearing_the_superuser_flag_revokes_the_users_streams(dispatch_group):
    boss = UserFactory(username="boss", is_superuser=True)
    start = outbox_end()
    boss.is_superuser = False
    boss.save()
    assert revoked_since(start) == [boss.pk]

    # Still dispatch staff through a group: nothing to end.
    chief = UserFactory(username="chief", is_superuser=True)
    chief.groups.add(dispatch_group)
    start = outbox_end()
    chief.is_superuser = False
    chief.save(update_fields=["is_superuser"])
    assert revoked_since(start) == []


@pytest.mark.django_db
def test_the_recheck_finds_streams_wider_than_their_users_access(stations, dispatch_group):
    from updates.streams.scopes import StreamScope, beyond_access, resolve

    ceres, vesta = stations["ceres-prime"], stations["vesta-yards"]
    ana, dee = UserFactory(username="ana"), UserFactory(username="dee")
    operator_grant(user=ana, stations=[ceres, vesta])
    dee.groups.add(dispatch_group)
    water = Commodity.objects.get(code="water")
    shipment = make_trade(ceres, stations["titan"], (water, 1)).cargo
    opened = {
        (ana.pk, resolve(ana, "all", None)),
        (ana.pk, resolve(ana, "station", "ceres-prime")),
        (ana.pk, resolve(ana, "station", "vesta-yards")),
        (ana.pk, resolve(ana, "shipment", shipment.shipment_id)),
        (dee.pk, resolve(dee, "all", None)),
        (dee.pk, resolve(dee, "station", "titan")),
    }
    assert beyond_access(opened) == set()

    # Changes no signal announces.
    Station.operators.through.objects.filter(user=ana, station=ceres).delete()
    Group.permissions.through.objects.filter(group=dispatch_group).delete()
    assert beyond_access(opened) == {
        (ana.pk, StreamScope(stations=frozenset(["ceres-prime", "vesta-yards"]))),
        (ana.pk, StreamScope(stations=frozenset(["ceres-prime"]))),
        (ana.pk, StreamScope(shipment_id=shipment.shipment_id)),
        (dee.pk, StreamScope(everything=True)),
        (dee.pk, StreamScope(stations=frozenset(["titan"]))),
    }


# Real servers, real streams.


def concerns(message, *codes: str) -> bool:
    return any(code in message.data for code in codes)


def trade_id(response: httpx.Response) -> str:
    assert response.status_code == 201, response.text
    return response.json()["transaction_id"]


@pytest.fixture
def two_servers():
    # The periodic re-check out of the way: what ends the streams is the announced change.
    env = server_env(TRADENET_SSE_REAUTH_SECONDS="600")
    env.pop("REDIS_URL", None)  # between them: PostgreSQL's NOTIFY
    with uvicorn_server(env=env) as a, uvicorn_server(env=env) as b:
        yield a, b


@pytest.mark.django_db(transaction=True)
def test_an_operator_removed_from_a_station_stops_receiving_its_events_on_every_server(
    two_servers, stations
):
    a, b = two_servers
    ana = UserFactory(username="ana")
    operator_grant(user=ana, stations=[stations["ceres-prime"], stations["vesta-yards"]])
    hers = token_header(ana)
    staff = token_header(UserFactory(username="staff", is_superuser=True))
    with (
        SSEClient(f"{a}/api/updates/real-time/", headers=hers) as everything,
        SSEClient(f"{b}/api/updates/stations/ceres-prime/", headers=hers) as ceres,
    ):
        first = trade_id(post_trade(b, staff, "ceres-prime", "titan"))
        ceres.next_where("trade.initiated", lambda t: t["transaction_id"] == first)
        # The last event of the trade (ORDER_IN_OPERATION): where a reconnect resumes.
        last_id = everything.next_where(
            "trade.initiated", lambda t: t["transaction_id"] == first
        ).id

        stations["ceres-prime"].operators.remove(ana)
        gone = trade_id(post_trade(a, staff, "ceres-prime", "titan"))
        kept = trade_id(post_trade(a, staff, "vesta-yards", "titan"))

        for stream in (everything, ceres):
            assert stream.ended(timeout=20), "the stream outlived its user's access"
            assert [m for m in stream.drain(0.5) if gone in m.data] == []

    # Reconnecting from where it was: what ana may see now, and only that.
    with SSEClient(
        f"{b}/api/updates/real-time/", headers={**hers, "Last-Event-ID": last_id}
    ) as again:
        assert again.next_of("trade.initiated", timeout=30).json["transaction_id"] == kept
        again.drain(1)
        assert all(concerns(m, "vesta-yards") for m in again.history), again.history
        assert not any(gone in m.data for m in again.history)
    with SSEClient(f"{a}/api/updates/stations/ceres-prime/", headers=hers) as refused:
        assert refused.status == 403


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["permission", "group", "superuser"])
def test_a_dispatcher_who_loses_dispatch_rights_stops_receiving_every_station(
    two_servers, stations, dispatch_group, how
):
    a, b = two_servers
    dee = UserFactory(username="dee", is_superuser=how == "superuser")
    operator_grant(user=dee, stations=[stations["titan"]])
    if how == "permission":
        dee.user_permissions.add(all_stations_permission())
    elif how == "group":
        dee.groups.add(dispatch_group)
    hers = token_header(dee)
    staff = token_header(UserFactory(username="staff", is_superuser=True))
    with (
        SSEClient(f"{a}/api/updates/real-time/", headers=hers) as everything,
        SSEClient(f"{b}/api/updates/stations/vesta-yards/", headers=hers) as vesta,
    ):
        first = trade_id(post_trade(b, staff, "ceres-prime", "vesta-yards"))
        vesta.next_where("trade.initiated", lambda t: t["transaction_id"] == first)
        last_id = everything.next_where(
            "trade.initiated", lambda t: t["transaction_id"] == first
        ).id

        if how == "permission":
            dee.user_permissions.remove(all_stations_permission())
        elif how == "group":
            dispatch_group.permissions.remove(all_stations_permission())
        else:
            dee.is_superuser = False
            dee.save()
        gone = trade_id(post_trade(a, staff, "ceres-prime", "vesta-yards"))
        kept = trade_id(post_trade(a, staff, "vesta-yards", "titan"))

        for stream in (everything, vesta):
            assert stream.ended(timeout=20), "the stream outlived its user's dispatch rights"
            assert [m for m in stream.drain(0.5) if gone in m.data] == []

    with SSEClient(
        f"{b}/api/updates/real-time/", headers={**hers, "Last-Event-ID": last_id}
    ) as again:
        assert again.next_of("trade.initiated", timeout=30).json["transaction_id"] == kept
        again.drain(1)
        assert all(concerns(m, "titan") for m in again.history), again.history
        assert not any(gone in m.data for m in again.history)
    with SSEClient(f"{a}/api/updates/stations/vesta-yards/", headers=hers) as refused:
        assert refused.status == 403


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_periodic_recheck_ends_streams_wider_than_their_users_access():
    """A change made where no signal is sent (a queryset delete, SQL) is found by the re-check
    within TRADENET_SSE_REAUTH_SECONDS (1 here)."""
    water = CommodityFactory(code="water")
    ceres, vesta = (StationFactory(code=code) for code in CODES[:2])
    give_stock(ceres, water, 100)
    ana = UserFactory(username="ana")
    operator_grant(user=ana, stations=[ceres, vesta])
    hers = token_header(ana)
    env = server_env(TRADENET_SSE_REAUTH_SECONDS="1")
    env.pop("REDIS_URL", None)
    with (
        uvicorn_server(env=env) as server,
        SSEClient(f"{server}/api/updates/real-time/", headers=hers) as everything,
        SSEClient(f"{server}/api/updates/stations/vesta-yards/", headers=hers) as vesta_stream,
    ):
        start = outbox_end()
        Station.operators.through.objects.filter(user=ana, station=ceres).delete()
        assert revoked_since(start) == []  # nothing announced it
        assert everything.ended(timeout=30), "the re-check left a stream wider than its user"
        # The station ana still operates: that stream stays.
        assert not vesta_stream.ended(timeout=3)


# Through Pushpin.


@pytest.fixture
def edge(tmp_path):
    from tests.updates.streams.test_pushpin import app_behind_pushpin  # skips without Pushpin

    yield from app_behind_pushpin(tmp_path, TRADENET_SSE_REAUTH_SECONDS="600")


@pytest.mark.django_db(transaction=True)
def test_streams_held_by_pushpin_end_when_their_user_loses_access(edge, stations, dispatch_group):
    """Pushpin holds the channels the scope had when the stream opened (a station's, or every
    event's): the access change closes the user's streams through their revocation channel,
    before anything committed after it is published to them."""
    from tests.updates.streams.test_pushpin import open_stream

    app, edge_url = edge
    ana, dee = UserFactory(username="ana"), UserFactory(username="dee")
    operator_grant(user=ana, stations=[stations["ceres-prime"], stations["vesta-yards"]])
    dee.groups.add(dispatch_group)
    hers, his = token_header(ana), token_header(dee)
    staff = token_header(UserFactory(username="staff", is_superuser=True))
    with (
        open_stream(f"{edge_url}/api/updates/stations/ceres-prime/", hers) as ceres,
        open_stream(f"{edge_url}/api/updates/real-time/", his) as everything,
    ):
        assert (ceres.status, everything.status) == (200, 200), (ceres.body, everything.body)
        first = trade_id(post_trade(app, staff, "ceres-prime", "titan"))
        everything.next_where("trade.initiated", lambda t: t["transaction_id"] == first)
        last_id = ceres.next_where("trade.initiated", lambda t: t["transaction_id"] == first).id

        stations["ceres-prime"].operators.remove(ana)
        dee.groups.remove(dispatch_group)
        gone = trade_id(post_trade(app, staff, "ceres-prime", "titan"))

        for stream in (ceres, everything):
            assert stream.ended(timeout=20), "Pushpin kept a stream its user lost access to"
            assert [m for m in stream.drain(0.5) if gone in m.data] == []

    # Through Pushpin again: the station is refused, ana's own stream carries vesta only.
    refused = open_stream(f"{edge_url}/api/updates/stations/ceres-prime/", hers)
    with refused:
        assert refused.status == 403
    kept = trade_id(post_trade(app, staff, "vesta-yards", "titan"))
    with open_stream(
        f"{edge_url}/api/updates/real-time/", {**hers, "Last-Event-ID": last_id}
    ) as again:
        assert again.status == 200, again.body
        assert again.next_of("trade.initiated", timeout=30).json["transaction_id"] == kept
        again.drain(1)
        assert all(concerns(m, "vesta-yards") for m in again.history), again.history
        assert not any(gone in m.data for m in again.history)
