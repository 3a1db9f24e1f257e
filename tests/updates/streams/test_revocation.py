"""A revocation reaches every server's streams in the log's order: after a token is revoked
(or the user deactivated), nothing committed later reaches that user's open streams, on any
server, and they end at once, not at the next periodic re-check (set to 10 minutes here)."""

from __future__ import annotations

import httpx
import pytest
from django.conf import settings

from inventory.services import operator_grant
from tests.factories import CommodityFactory, StationFactory, UserFactory, give_stock
from tests.helpers import post_trade, token_header
from tests.servers import server_env, uvicorn_server
from tests.sse import SSEClient

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_servers():
    env = server_env(TRADENET_SSE_REAUTH_SECONDS="600")
    env.pop("REDIS_URL", None)  # between them: PostgreSQL's NOTIFY
    with uvicorn_server(env=env) as a, uvicorn_server(env=env) as b:
        yield a, b


@pytest.fixture
def ana():
    ceres = StationFactory(code="ceres-prime")
    StationFactory(code="vesta-yards")
    give_stock(ceres, CommodityFactory(code="water"), 1000)
    user = UserFactory(username="ana")
    operator_grant(user=user, stations=[ceres])
    return user


def about(messages, trade) -> list:
    ids = {trade["transaction_id"], trade["cargo"]["shipment_id"]}
    return [m for m in messages if ids & {m.json.get("transaction_id"), m.json.get("shipment_id")}]


def test_after_revoke_all_nothing_later_reaches_the_users_streams_on_any_server(two_servers, ana):
    a, b = two_servers
    hers = token_header(ana)
    staff = token_header(UserFactory(username="dispatch", is_superuser=True))
    with (
        SSEClient(f"{a}/api/updates/real-time/", headers=hers) as on_a,
        SSEClient(f"{b}/api/updates/stations/ceres-prime/", headers=hers) as on_b,
    ):
        before = post_trade(b, staff, "ceres-prime", "vesta-yards").json()
        for stream in (on_a, on_b):  # both streams work
            assert (
                stream.next_of("trade.initiated", timeout=30).json["transaction_id"]
                == (before["transaction_id"])
            )

        assert httpx.post(f"{a}/api/auth/token/revoke-all/", headers=hers).status_code == 204
        after = post_trade(b, staff, "ceres-prime", "vesta-yards").json()  # committed later

        for stream in (on_a, on_b):
            assert stream.ended(timeout=20), "the stream outlived its token"
            assert about(stream.drain(0.5), after) == []


def test_a_deactivated_user_s_streams_end_before_anything_later(two_servers, ana):
    a, b = two_servers
    hers = token_header(ana)
    staff = token_header(UserFactory(username="dispatch", is_superuser=True))
    with SSEClient(f"{a}/api/updates/real-time/", headers=hers) as stream:
        post_trade(b, staff, "ceres-prime", "vesta-yards")
        stream.next_of("trade.initiated", timeout=30)
        ana.is_active = False
        ana.save()  # as a shell would: the revocation is announced by the save's receiver
        after = post_trade(b, staff, "ceres-prime", "vesta-yards").json()
        assert stream.ended(timeout=20)
        assert about(stream.drain(0.5), after) == []


def test_the_periodic_recheck_leaves_streams_that_subscribed_while_it_ran(monkeypatch):
    """The re-check reads the credentials of the streams open when it starts; one that signs in
    while it runs was not checked and stays open (each round ended up to a tenth of 2,000
    streams of distinct users, all valid). A revoked one it did check still ends."""
    import asyncio

    from django.db import connection
    from knox.models import AuthToken

    from updates.streams import dbthreads
    from updates.streams.hub import Hub
    from updates.streams.scopes import StreamScope, authenticate

    # The round's database work on one thread of its own, whose connection is closed after.
    monkeypatch.setattr(dbthreads, "_executor", None)
    monkeypatch.setattr(settings, "TRADENET_SSE_DB_THREADS", 1)

    def credential_of(user):
        token = AuthToken.objects.create(user=user)[1]
        return authenticate(f"Token {token}", None).stream_credential

    # Dispatch staff, whose streams of everything stay within their access.
    checked, revoked, newcomer = (credential_of(UserFactory(is_superuser=True)) for _ in range(3))
    AuthToken.objects.filter(digest=revoked.key).delete()
    hub = Hub()
    everything = StreamScope(everything=True)

    async def round_with_a_newcomer():
        open_ones = [hub.subscribe(everything, c) for c in (checked, revoked)]
        recheck = asyncio.create_task(hub.recheck())
        await asyncio.sleep(0)  # the round has read who is open and waits on the database
        late = hub.subscribe(everything, newcomer)
        await recheck
        await dbthreads.run(lambda: connection.close())  # looked up on that thread
        return [s.closed for s in (*open_ones, late)]

    try:
        assert asyncio.run(round_with_a_newcomer()) == [False, True, False]
    finally:
        dbthreads.executor().shutdown()
