"""The server's bridge from the event loop to the view threads (tradenet/wsgi_bridge.py), through
a real server: bodies read up front or as the view reads them, answers whole or streamed."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from knox.models import AuthToken

from tests.factories import CommodityFactory, StationFactory, UserFactory, give_stock

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(api_server):
    return api_server


def staff_token() -> str:
    return AuthToken.objects.create(user=UserFactory(is_superuser=True))[1]


def trade_body(seller: str, buyer: str, commodity: str) -> dict:
    return {
        "seller": seller,
        "buyer": buyer,
        "items": [{"commodity": commodity, "quantity": 2, "unit_price": "1.50"}],
    }


def test_a_body_of_known_length_reaches_the_view_and_the_answer_comes_whole(server):
    seller, buyer = StationFactory(), StationFactory()
    water = CommodityFactory(code="water")
    give_stock(seller, water, 10)
    headers = {"Authorization": f"Token {staff_token()}"}
    answer = httpx.post(
        f"{server}/api/trades/",
        json=trade_body(seller.code, buyer.code, "water"),
        headers=headers,
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["items"][0]["quantity"] == 2
    assert int(answer.headers["content-length"]) == len(answer.content)


def test_a_chunked_body_is_read_as_the_view_reads_it(server):
    """No Content-Length: the body is not read up front but as Django asks for it."""
    seller, buyer = StationFactory(), StationFactory()
    give_stock(seller, CommodityFactory(code="ice"), 10)
    headers = {"Authorization": f"Token {staff_token()}", "Content-Type": "application/json"}
    whole = json.dumps(trade_body(seller.code, buyer.code, "ice")).encode()
    parts = [whole[:10], whole[10:40], whole[40:]]
    answer = httpx.post(f"{server}/api/trades/", content=iter(parts), headers=headers, timeout=30)
    assert answer.status_code == 201, answer.text
    assert answer.json()["seller"] == seller.code


def test_a_body_over_the_prefetch_limit_is_refused_with_413(server):
    headers = {"Authorization": f"Token {staff_token()}", "Content-Type": "application/json"}
    huge = b'{"seller": "' + b"x" * (3 << 20) + b'"}'
    known = httpx.post(f"{server}/api/trades/", content=huge, headers=headers, timeout=60)
    chunks = [huge[i : i + 65536] for i in range(0, len(huge), 65536)]
    chunked = httpx.post(f"{server}/api/trades/", content=iter(chunks), headers=headers, timeout=60)
    for answer in (known, chunked):
        assert answer.status_code == 413, answer.text[:300]
        assert answer.json()["code"] == "payload_too_large"


def test_a_streamed_answer_arrives_byte_for_byte(server):
    """Static files are streamed (whitenoise's file response): chunk by chunk, all of it."""
    with httpx.stream("GET", f"{server}/static/website/map.js", timeout=30) as answer:
        assert answer.status_code == 200
        got = b"".join(answer.iter_bytes())
    assert got == (ROOT / "website/static/website/map.js").read_bytes()
