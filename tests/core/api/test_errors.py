"""No client input, however malformed, produces a 500 or writes anything."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone

from inventory.models import StockMovement
from tests.factories import StationFactory, make_trade
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


# Every list of the API, for the checks that every list must pass.
EVERY_LIST = [
    "/api/trades/",
    "/api/cargo/",
    "/api/inventory/",
    "/api/inventory/ceres-prime/movements/",
    "/api/accounts/",
    "/api/accounts/ceres-prime/entries/",
    "/api/stations/",
    "/api/commodities/",
    "/api/webhooks/",
]


def cursor(query: str) -> str:
    """A cursor as DRF encodes one (base64 of a query string), holding what the caller chose."""
    return quote(base64.b64encode(query.encode("ascii")).decode("ascii"))


# Characters str.isdigit() takes and int() refuses, and one int() takes (Arabic-Indic three).
@pytest.mark.parametrize("value", ["²", "①", "³", "٣", "1²", " ", "+5", "5.0"])
def test_a_page_size_of_anything_but_ascii_digits_is_a_400_on_every_list(
    api, dispatcher, ceres, value
):
    for path in EVERY_LIST:
        response = api(dispatcher).get(path, {"page_size": value})
        assert response.status_code == 400, (path, response.content)
        body = response.json()
        assert body["code"] == "invalid"
        assert list(body["errors"]) == ["page_size"], (path, body)


@pytest.mark.parametrize("value", ["9" * 5000, "0" * 30 + "7"])
def test_a_page_size_of_many_digits_is_read_not_refused(api, dispatcher, ceres, value):
    # int() refuses a string of over 4,300 digits; such a size is simply over the cap.
    response = api(dispatcher).get("/api/stations/", {"page_size": value})
    assert response.status_code == 200, response.content


CODE_ORDERED_LISTS = ["/api/stations/", "/api/commodities/", "/api/inventory/", "/api/accounts/"]
NEWEST_FIRST_LISTS = [path for path in EVERY_LIST if path not in CODE_ORDERED_LISTS]


def assert_invalid_cursor(response, where):
    assert response.status_code == 404, (where, response.content)
    body = response.json()
    assert body["code"] == "invalid_cursor", (where, body)
    assert "cursor" in body["message"], (where, body)


@pytest.mark.parametrize("position", ["%00", "a%00b"])
def test_a_cursor_at_text_postgresql_cannot_store_is_a_404_naming_the_cursor(
    api, dispatcher, ceres, position
):
    for path in CODE_ORDERED_LISTS:
        response = api(dispatcher).get(f"{path}?cursor={cursor('p=' + position)}")
        assert_invalid_cursor(response, path)


def test_the_reported_cursor_of_a_nul_is_a_404(api, dispatcher, ceres):
    assert_invalid_cursor(api(dispatcher).get("/api/stations/?cursor=cD0lMDA%3D"), "stations")


@pytest.mark.parametrize(
    "position",
    [
        "yesterday",
        "ceres-prime",  # a code list's cursor on a newest-first list
        "9999-12-31T23:59:59-05:00",  # past year 9999 in UTC
        "0001-01-01T00:00:00%2B05:00",  # before year 1 in UTC
        "2026-13-01T00:00:00%2B00:00",
    ],
)
def test_a_cursor_at_no_moment_is_a_404_on_every_newest_first_list(
    api, dispatcher, ceres, position
):
    for path in NEWEST_FIRST_LISTS:
        response = api(dispatcher).get(f"{path}?cursor={cursor('p=' + position)}")
        assert_invalid_cursor(response, (path, position))


@pytest.mark.parametrize("query", ["r=²", "o=①", "o=x&p=water"])
def test_a_cursor_of_other_nonsense_is_a_404(api, dispatcher, ceres, query):
    for path in ("/api/stations/", "/api/trades/"):
        encoded = quote(base64.b64encode(query.encode()).decode())
        assert_invalid_cursor(api(dispatcher).get(f"{path}?cursor={encoded}"), (path, query))


def test_a_cursor_at_a_moment_with_an_offset_still_finds_its_place(
    api, dispatcher, stocked_ceres, vesta, water
):
    """A position's moment is made UTC, not refused, when PostgreSQL can store it: even at an
    offset it refuses (+17:54 is valid ISO 8601)."""
    make_trade(stocked_ceres, vesta, (water, 1))
    for minutes in (-300, 17 * 60 + 54):
        later = timezone.now() + timedelta(hours=1)
        at = later.astimezone(timezone.get_fixed_timezone(minutes)).isoformat()
        response = api(dispatcher).get(f"/api/trades/?cursor={cursor('p=' + quote(at))}")
        assert response.status_code == 200, response.content
        assert len(response.json()["results"]) == 1


def test_a_code_ordered_list_walks_every_row_once_a_row_a_page(api, dispatcher):
    codes = sorted(StationFactory().code for _ in range(4))
    seen, url = [], "/api/stations/?page_size=1"
    while url:
        page = api(dispatcher).get(url).json()
        seen += [station["code"] for station in page["results"]]
        url = page["next"]
    assert seen == codes


@pytest.mark.parametrize("ordering", ["actor__username", "-actor__username", "kind", "memo"])
def test_an_entries_ordering_by_anything_but_its_moment_is_a_400(api, dispatcher, ceres, ordering):
    response = api(dispatcher).get(
        "/api/accounts/ceres-prime/entries/", {"ordering": ordering, "page_size": 1}
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert list(body["errors"]) == ["ordering"]
    assert "use created_at" in body["message"]


def test_entries_are_ordered_and_paged_by_their_moment_either_way(
    api, dispatcher, stocked_ceres, vesta, water
):
    for _ in range(2):
        make_trade(stocked_ceres, vesta, (water, 1))
    for ordering in ("created_at", "-created_at"):
        seen, url = [], f"/api/accounts/ceres-prime/entries/?ordering={ordering}&page_size=1"
        while url:
            page = api(dispatcher).get(url)
            assert page.status_code == 200, page.content
            seen += [entry["created_at"] for entry in page.json()["results"]]
            url = page.json()["next"]
        assert len(seen) >= 2
        assert seen == sorted(seen, reverse=ordering.startswith("-"))


@pytest.mark.parametrize(
    ("header", "query", "expected"),
    [
        ("٣".encode(), {}, None),  # int() takes Arabic-Indic digits; an event id is ASCII
        (b"\xc2\xb2", {}, None),
        (b"", {"lastEventId": ["42"]}, 42),
        (b"all:42", {}, 42),
        (b" 7 ", {"lastEventId": ["²"]}, 7),  # the header wins; the parameter is not read
    ],
)
def test_a_last_event_id_header_of_anything_but_ascii_digits_is_no_id(header, query, expected):
    """A stream's resume point is read, never a 500. A header that is no number is ignored, as
    an unreadable one always was: EventSource sends it by itself and stops for good on an
    answer other than 200."""
    from updates.streams.routes import last_event_id

    assert last_event_id({b"last-event-id": header}, query) == expected


@pytest.mark.parametrize("value", ["²", "①", "all:³", "x", "-1"])
def test_a_last_event_id_parameter_that_is_no_id_is_refused_naming_it(value):
    from updates.streams.routes import BadLastEventId, last_event_id

    with pytest.raises(BadLastEventId, match="lastEventId"):
        last_event_id({}, {"lastEventId": [value]})


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/api/trades/?seller=%00", "seller"),
        ("/api/cargo/?status=ok&station=a%00b", "station"),
        ("/api/trades/txn%00/", "non_field_errors"),
        ("/api/stations/?a%00=1", "non_field_errors"),
    ],
)
def test_a_nul_in_the_url_is_a_400_in_the_error_shape_naming_the_parameter(
    api, dispatcher, path, named
):
    body = api(dispatcher).get(path).json()
    assert body["code"] == "invalid"
    assert list(body["errors"]) == [named]
    assert body["message"] and body["errors"][named]
