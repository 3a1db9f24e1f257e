"""No client input, however malformed, produces a 500 or writes anything."""

from __future__ import annotations

import json

import pytest

from inventory.models import StockMovement
from trades.models import Trade

pytestmark = pytest.mark.django_db


def good_item(**overrides):
    return {"commodity": "water", "quantity": 1, "unit_price": "1.00"} | overrides


def with_item(**item):
    return {"seller": "ceres-prime", "buyer": "vesta-yards", "items": [good_item(**item)]}


def with_fields(**fields):
    return {"seller": "ceres-prime", "buyer": "vesta-yards", "items": [good_item()]} | fields


BAD_TRADE_BODIES = [
    ({}, "seller"),
    (with_fields(items=None) | {"items": []}, "items"),
    ({"seller": "ceres-prime", "buyer": "vesta-yards"}, "items"),
    (with_fields(buyer="ceres-prime"), "buyer"),
    (with_fields(seller="atlantis"), "seller"),
    (with_item(commodity="gold"), "items[0].commodity"),
    (with_item(quantity=0), "items[0].quantity"),
    (with_item(quantity=-1), "items[0].quantity"),
    (with_item(quantity=10**30), "items[0].quantity"),
    (with_item(quantity=1.5), "items[0].quantity"),
    (with_item(quantity="lots"), "items[0].quantity"),
    (with_item(quantity=True), "items[0].quantity"),
    (with_item(unit_price="NaN"), "items[0].unit_price"),
    (with_item(unit_price="Infinity"), "items[0].unit_price"),
    (with_item(unit_price="-1"), "items[0].unit_price"),
    (with_item(unit_price="1e400"), "items[0].unit_price"),
    (with_item(unit_price="0.001"), "items[0].unit_price"),
    (with_fields(items=[good_item(), good_item()]), "items"),
    (with_fields(seller=["ceres-prime"]), "seller"),
    (with_fields(seller={"a": 1}, buyer=None), "seller"),
    (with_fields(items="water"), "items"),
    (with_fields(items=[7]), "items[0]"),
    (with_fields(items=[good_item()] * 201), "items"),
    (with_fields(seller="x" * 10000), "seller"),
]

UNSTORABLE_BODIES = [
    with_item(commodity="wat\x00er"),
    with_item(commodity="e\ud9eb"),
    with_fields(**{"\udc00": 1}),
    with_fields(buyer="\x00"),
]


@pytest.mark.parametrize("body", UNSTORABLE_BODIES)
def test_text_postgresql_cannot_store_is_400_not_500(api, dispatcher, stocked_ceres, body):
    raw = json.dumps(body)  # ASCII-escaped, as a client would send \\u escapes
    response = api(dispatcher).post("/api/trades/", raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "parse_error"


@pytest.mark.parametrize(
    "path", ["/api/trades/?seller=%00", "/api/trades/txn%00/", "/api/inventory/%00/movements/"]
)
def test_nul_in_the_url_is_400_not_500(api, dispatcher, path):
    response = api(dispatcher).get(path)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


@pytest.mark.parametrize(("body", "field"), BAD_TRADE_BODIES)
def test_bad_trade_bodies_are_400_with_field_messages(
    api, dispatcher, stocked_ceres, vesta, body, field
):
    movements = StockMovement.objects.count()
    response = api(dispatcher).post("/api/trades/", body, format="json")
    assert response.status_code == 400, response.content
    payload = response.json()
    assert payload["code"] == "invalid"
    assert field in payload["errors"], payload
    assert payload["message"]
    assert not Trade.objects.exists()
    assert StockMovement.objects.count() == movements


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"", b"[]", b"null", b"42", b'"text"', b'{"seller": "\xff"}', b"\x00\x01"],
)
def test_broken_json_is_400(api, dispatcher, stocked_ceres, raw):
    response = api(dispatcher).post("/api/trades/", raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] in {"parse_error", "invalid"}
    assert not Trade.objects.exists()


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "multipart/form-data; boundary=x"]
)
def test_wrong_content_type_is_415(api, dispatcher, stocked_ceres, content_type):
    response = api(dispatcher).post(
        "/api/trades/", b"seller=ceres-prime", content_type=content_type
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_unknown_route_under_api_is_json_404(api, dispatcher):
    response = api(dispatcher).get("/api/nowhere/")
    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "code": "not_found"}


def test_method_not_allowed_is_405_in_the_error_shape(api, dispatcher):
    response = api(dispatcher).delete("/api/trades/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


ODD_QUERIES = [
    "created_after=yesterday",
    "created_after=2333-05-20T00:46:05%2B17:54",  # an offset PostgreSQL refuses
    "created_before=9999-12-31T23:59:59-05:00",  # overflows when made UTC
    "page_size=-1",
    "cursor=%%%",
    "status=nope",
    "ordering=password",
    "overdue=maybe",
    "page_size=99999999999999999999",
]


@pytest.mark.parametrize("query", ODD_QUERIES)
def test_odd_query_strings_never_500(api, dispatcher, query):
    for path in ("/api/trades/", "/api/cargo/", "/api/inventory/ceres-prime/movements/"):
        response = api(dispatcher).get(f"{path}?{query}")
        assert response.status_code < 500, (path, query, response.content)


def test_error_body_is_json_with_message_and_code(api, dispatcher):
    body = json.loads(api(dispatcher).get("/api/trades/txn-missing/").content)
    assert body == {"message": "No Trade matches the given query.", "code": "not_found"}
