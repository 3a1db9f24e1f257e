"""What one trade costs PostgreSQL: round trips counted on the wire (libpq's protocol trace)."""

from __future__ import annotations

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from core.diagnostics import round_trips, wire_trace
from inventory import directory
from inventory.services import operator_grant
from tests.factories import (
    CommodityFactory,
    StationFactory,
    UserFactory,
    give_stock,
    grant_agreement,
)

pytestmark = pytest.mark.django_db(transaction=True)

# The 15 of a trade before credits, and the settlement's hold: one statement that locks both
# accounts, checks what the buyer may spend and writes the transfer, both accounts and their
# entries; less the stations and commodities, once the process's directory has them
# (inventory.directory), less the stock ledger's insert, written with the levels
# (inventory.services.WRITE), less the shipment's first tracking row, written with it
# (cargo.services.CREATE), and less the trade's lines, written with the trade
# (trades.services.RECORD); and, for a seller's operator trading inside the buyer's standing
# agreement, the agreement that covers the trade (trades.consent.agreement_covering) and its
# cap taken once the accounts are locked (trades.consent.TAKE). Exact, so that a new round
# trip is a decision (credits' issue bounds it at 18).
ROUND_TRIPS = 13
DIRECTORY_LOOKUPS = 2  # the stations, the commodities: one query each, whatever the lines


@pytest.fixture
def market():
    directory.stations.forget()
    directory.commodities.forget()
    seller, buyer = StationFactory(code="ceres-prime"), StationFactory(code="vesta-yards")
    goods = [CommodityFactory(code=f"good-{n}") for n in range(5)]
    for commodity in goods:
        give_stock(seller, commodity, 1000)
        give_stock(buyer, commodity, 1)  # the buyer already holds some: no new stock rows
    buyer_op = UserFactory(username="vesta-op")
    operator_grant(user=buyer_op, stations=[buyer])
    grant_agreement(buyer, seller, actor=buyer_op)  # recorded as who consented to each debit
    operator = UserFactory(username="ceres-op")
    operator_grant(user=operator, stations=[seller])
    _, token = AuthToken.objects.create(user=operator)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client, goods


def post_trade(client, goods) -> list[tuple[str, str]]:
    body = {
        "seller": "ceres-prime",
        "buyer": "vesta-yards",
        "items": [{"commodity": good.code, "quantity": 2, "unit_price": "3.00"} for good in goods],
    }
    with wire_trace() as sent:
        response = client.post("/api/trades/", body, format="json")
    assert response.status_code == 201, response.content
    return sent


def test_a_one_line_trade_takes_thirteen_round_trips_as_an_operator(market):
    client, goods = market
    cold = post_trade(client, goods[:1])
    assert round_trips(cold) == ROUND_TRIPS + DIRECTORY_LOOKUPS, cold
    warm = post_trade(client, goods[:1])
    assert round_trips(warm) == ROUND_TRIPS, warm


def test_round_trips_do_not_grow_with_the_number_of_lines(market):
    client, goods = market
    one = round_trips(post_trade(client, goods[:1]))
    directory.stations.forget()
    directory.commodities.forget()
    five = round_trips(post_trade(client, goods))
    assert five == one


def test_a_trade_sets_no_savepoint_and_commits_once(market):
    client, goods = market
    statements = [text.upper() for _, text in post_trade(client, goods[:1])]
    assert not [s for s in statements if "SAVEPOINT" in s]
    assert len([s for s in statements if s.startswith('"COMMIT')]) == 1, statements
