from __future__ import annotations

import pytest

from cargo.models import Cargo
from cargo.services import shipment_update
from inventory.models import Commodity, Station, StockMovement
from tests.factories import StationFactory, give_stock, make_trade
from tests.helpers import level
from trades.models import IdempotencyRecord, Trade

pytestmark = pytest.mark.django_db


def new_trade_body(seller="ceres-prime", buyer="vesta-yards", **item):
    return {
        "seller": seller,
        "buyer": buyer,
        "items": [{"commodity": "water", "quantity": 5, "unit_price": "12.50"} | item],
    }


@pytest.mark.usefixtures("vesta_grants_ceres")
def test_initiating_a_trade_answers_the_trade_with_its_cargo(
    api, ceres_op, stocked_ceres, vesta, water
):
    response = api(ceres_op).post("/api/trades/", new_trade_body(), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "initiated"
    assert (body["seller"], body["buyer"]) == ("ceres-prime", "vesta-yards")
    assert body["items"] == [
        {"commodity": "water", "quantity": 5, "unit_price": "12.50", "subtotal": "62.50"}
    ]
    assert body["total"] == "62.50"
    assert body["cargo"]["shipment_id"] == f"shipment-{body['transaction_id']}"
    assert body["cargo"]["status"] == "pending"
    assert body["cargo"]["eta"]
    assert body["created_by"] == "ceres-op"
    assert level(stocked_ceres, water).on_hand == 95


@pytest.mark.usefixtures("vesta_grants_ceres")
def test_routes_answer_with_and_without_trailing_slash(api, ceres_op, stocked_ceres, vesta, water):
    trade = make_trade(stocked_ceres, vesta, (water, 1))
    client = api(ceres_op)
    for path in (
        "/api/trades",
        "/api/trades/",
        f"/api/trades/{trade.transaction_id}",
        f"/api/trades/{trade.transaction_id}/",
        "/api/cargo",
        "/api/inventory/ceres-prime",
    ):
        assert client.get(path).status_code == 200, path
    assert client.post("/api/trades", new_trade_body(quantity=1), format="json").status_code == 201


@pytest.mark.usefixtures("vesta_grants_ceres")
def test_not_enough_stock_is_a_409_naming_what_was_asked_and_available(
    api, ceres_op, stocked_ceres, vesta, water
):
    response = api(ceres_op).post("/api/trades/", new_trade_body(quantity=101), format="json")

    assert response.status_code == 409
    assert response.json() == {
        "message": "Not enough water at ceres-prime: asked for 101, 100 available.",
        "code": "insufficient_stock",
        "detail": {
            "station": "ceres-prime",
            "commodity": "water",
            "requested": 101,
            "available": 100,
        },
    }
    assert not Trade.objects.exists()


def test_list_filters_by_station_status_commodity_and_date(
    api, dispatcher, stocked_ceres, vesta, water, ore
):
    titan = StationFactory(code="titan")
    give_stock(vesta, ore, 10)
    a = make_trade(stocked_ceres, vesta, (water, 1))
    b = make_trade(stocked_ceres, titan, (ore, 1))
    c = make_trade(vesta, titan, (ore, 2))
    Cargo.objects.get(trade=b)  # exists
    from cargo.services import shipment_update

    shipment_update(shipment=b.cargo, status="cancelled")
    client = api(dispatcher)  # sees every trade (what operators see: test_api_read_matrix)

    def ids(query):
        response = client.get(f"/api/trades/?{query}")
        assert response.status_code == 200, response.json()
        return {t["transaction_id"] for t in response.json()["results"]}

    assert ids("seller=ceres-prime") == {a.transaction_id, b.transaction_id}
    assert ids("buyer=titan") == {b.transaction_id, c.transaction_id}
    assert ids("station=vesta-yards") == {a.transaction_id, c.transaction_id}
    assert ids("status=cancelled") == {b.transaction_id}
    assert ids("status=initiated&status=cancelled") == {
        a.transaction_id,
        b.transaction_id,
        c.transaction_id,
    }
    assert ids("commodity=iron-ore") == {b.transaction_id, c.transaction_id}
    assert ids("status=cancelled&commodity=iron-ore") == {b.transaction_id}
    assert ids("status=initiated&commodity=iron-ore") == {c.transaction_id}
    assert ids("status=initiated&status=cancelled&commodity=iron-ore") == {
        b.transaction_id, c.transaction_id,
    }  # fmt: skip
    assert ids("status=cancelled&commodity=water") == set()  # a combination never met
    assert ids("commodity=plutonium") == set()  # an unknown code narrows to nothing
    assert ids("created_after=2000-01-01T00:00:00Z&created_before=2999-01-01T00:00:00Z") == {
        a.transaction_id, b.transaction_id, c.transaction_id,
    }  # fmt: skip
    assert ids("created_before=2000-01-01T00:00:00Z") == set()
    assert ids(f"search={c.transaction_id}") == {c.transaction_id}
    assert ids(f"search={c.transaction_id.upper()}") == {c.transaction_id}  # any case
    assert ids("search=TITAN") == {b.transaction_id, c.transaction_id}  # a station, either side
    assert ids("search=txn-0000") == set()  # ids match whole, not as a part
    assert ids("seller=atlantis") == set()  # an unknown code narrows to nothing
    assert client.get("/api/trades/?status=bogus").status_code == 400


def test_cursor_pagination_walks_every_trade_once(api, ceres_op, stocked_ceres, vesta, water):
    made = {make_trade(stocked_ceres, vesta, (water, 1)).transaction_id for _ in range(7)}
    client = api(ceres_op)
    seen, url = [], "/api/trades/?page_size=3"
    while url:
        page = client.get(url).json()
        assert len(page["results"]) <= 3
        seen += [t["transaction_id"] for t in page["results"]]
        url = page["next"]
    assert sorted(seen) == sorted(made)
    assert client.get("/api/trades/?page_size=100000").json()["results"].__len__() == 7


def test_list_queries_do_not_grow_with_page_size(
    api, ceres_op, stocked_ceres, vesta, water, ore, django_assert_max_num_queries
):
    for _ in range(30):
        make_trade(stocked_ceres, vesta, (water, 1), (ore, 1))
    client = api(ceres_op)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get("/api/trades/?page_size=1")  # the caller's access, read once per user object
    counts = {}
    for size in (2, 30):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/api/trades/?page_size={size}").status_code == 200
        counts[size] = len(ctx.captured_queries)
    assert counts[2] == counts[30], counts
    with django_assert_max_num_queries(counts[30]):
        client.get("/api/cargo/?page_size=30")


def test_cancel_returns_goods_to_the_seller(api, ceres_op, stocked_ceres, vesta, water):
    trade = make_trade(stocked_ceres, vesta, (water, 20))
    response = api(ceres_op).post(
        f"/api/trades/{trade.transaction_id}/cancel/", {"note": "buyer backed out"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "cancelled"
    assert level(stocked_ceres, water).on_hand == 100
    again = api(ceres_op).post(f"/api/trades/{trade.transaction_id}/cancel/", {}, format="json")
    assert again.status_code == 409
    assert again.json()["detail"] == {
        "current": "cancelled",
        "requested": "cancelled",
        "allowed": [],
    }


@pytest.mark.usefixtures("vesta_grants_ceres")
class TestIdempotencyKey:
    def test_retry_with_same_key_and_body_replays_and_creates_nothing(
        self, api, ceres_op, stocked_ceres, vesta, water
    ):
        client = api(ceres_op)
        first = client.post(
            "/api/trades/", new_trade_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
        )
        retry = client.post(
            "/api/trades/", new_trade_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
        )

        assert first.status_code == retry.status_code == 201
        assert retry.json() == first.json()
        assert retry["Idempotent-Replayed"] == "true"
        assert Trade.objects.count() == 1
        assert level(stocked_ceres, water).on_hand == 95

    def test_same_key_with_another_body_is_refused(
        self, api, ceres_op, stocked_ceres, vesta, water
    ):
        client = api(ceres_op)
        client.post("/api/trades/", new_trade_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-2")
        other = client.post(
            "/api/trades/", new_trade_body(quantity=6), format="json", HTTP_IDEMPOTENCY_KEY="k-2"
        )
        assert other.status_code == 422
        assert other.json()["code"] == "idempotency_key_reused"
        assert Trade.objects.count() == 1

    def test_keys_are_per_user(self, api, ceres_op, dispatcher, stocked_ceres, vesta, water):
        api(ceres_op).post(
            "/api/trades/", new_trade_body(), format="json", HTTP_IDEMPOTENCY_KEY="shared"
        )
        response = api(dispatcher).post(
            "/api/trades/", new_trade_body(), format="json", HTTP_IDEMPOTENCY_KEY="shared"
        )
        assert response.status_code == 201
        assert Trade.objects.count() == 2

    def test_a_refused_trade_is_replayed_as_refused(
        self, api, ceres_op, stocked_ceres, vesta, water
    ):
        client = api(ceres_op)
        first = client.post(
            "/api/trades/", new_trade_body(quantity=500), format="json", HTTP_IDEMPOTENCY_KEY="k-3"
        )
        give_stock(
            stocked_ceres.__class__.objects.get(code="vesta-yards"), water, 1
        )  # unrelated change
        retry = client.post(
            "/api/trades/", new_trade_body(quantity=500), format="json", HTTP_IDEMPOTENCY_KEY="k-3"
        )
        assert first.status_code == retry.status_code == 409
        assert retry.json() == first.json()
        assert not Trade.objects.exists()

    def test_keys_are_kept_for_a_day_then_expire(self, api, ceres_op, stocked_ceres, vesta, water):
        from datetime import timedelta

        from django.utils import timezone

        client = api(ceres_op)
        client.post("/api/trades/", new_trade_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-4")
        record = IdempotencyRecord.objects.get(key="k-4")
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            created_at=timezone.now() - timedelta(hours=23)
        )
        assert (
            client.post(
                "/api/trades/", new_trade_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-4"
            )["Idempotent-Replayed"]
            == "true"
        )
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            created_at=timezone.now() - timedelta(hours=25)
        )
        fresh = client.post(
            "/api/trades/", new_trade_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-4"
        )
        assert fresh.status_code == 201 and "Idempotent-Replayed" not in fresh
        assert Trade.objects.count() == 2


def test_detail_carries_an_etag_and_a_stale_if_match_gets_412(
    api, ceres_op, stocked_ceres, vesta, water
):
    trade = make_trade(stocked_ceres, vesta, (water, 3))
    client = api(ceres_op)
    url = f"/api/trades/{trade.transaction_id}/"
    etag = client.get(url)["ETag"]
    assert etag and client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304

    from cargo.services import shipment_update

    shipment_update(shipment=trade.cargo, eta=trade.cargo.eta.replace(year=2999))
    shipment_update(shipment=trade.cargo, status="in_transit")  # someone else moved it
    assert client.get(url)["ETag"] != etag
    stale = client.post(f"{url}cancel/", {}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition_failed"
    assert StockMovement.objects.filter(kind="return").count() == 0


def test_purge_command_deletes_only_expired_keys(api, ceres_op, stocked_ceres, vesta, water):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    client = api(ceres_op)
    for key in ("old", "fresh"):
        client.post("/api/trades/", new_trade_body(), format="json", HTTP_IDEMPOTENCY_KEY=key)
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    call_command("purge_idempotency_keys")
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]


def test_demo_traffic_makes_trades_and_moves_shipments(capsys):
    from django.core.management import call_command

    from tests.helpers import assert_ledger_matches_levels

    call_command("seed_stations")
    call_command("seed_agreements")
    call_command("demo_traffic", "--trades", "8", "--interval", "0", "--seed", "5")
    import re

    made, refused, moves = map(
        int,
        re.search(
            r"(\d+) trades made, (\d+) refused.*?(\d+) shipment moves", capsys.readouterr().out
        ).groups(),
    )
    assert made + refused == 8 and made >= 1
    assert Trade.objects.count() == made
    # Each inside a standing agreement the buyer granted, as a seller's operator must trade.
    assert Trade.objects.filter(agreement__isnull=False).count() == made
    assert moves >= 1
    assert Cargo.objects.exclude(status="pending").exists()
    assert_ledger_matches_levels()


def test_demo_traffic_leaves_shipments_it_did_not_make_alone():
    from django.core.management import call_command

    call_command("seed_stations")
    call_command("seed_agreements")
    ceres, mars = Station.objects.get(code="ceres-prime"), Station.objects.get(code="sol-mars")
    water = Commodity.objects.get(code="water")
    booked = make_trade(ceres, mars, (water, 1)).cargo  # an operator's own
    departed = make_trade(ceres, mars, (water, 1)).cargo
    shipment_update(shipment=departed, status="in_transit")

    call_command("demo_traffic", "--trades", "30", "--interval", "0", "--seed", "5")

    assert Cargo.objects.get(pk=booked.pk).status == "pending"
    assert Cargo.objects.get(pk=departed.pk).status == "in_transit"
    assert Cargo.objects.exclude(pk__in=[booked.pk, departed.pk]).exclude(status="pending").exists()


@pytest.mark.usefixtures("vesta_grants_ceres")
@pytest.mark.parametrize(
    ("first_path", "retry_path"), [("/api/trades/", "/api/trades"), ("/api/trades", "/api/trades/")]
)
def test_an_idempotency_key_means_the_same_request_with_or_without_the_slash(
    api, ceres_op, stocked_ceres, vesta, water, first_path, retry_path
):
    client = api(ceres_op)
    first = client.post(first_path, new_trade_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-s")
    retry = client.post(retry_path, new_trade_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-s")

    assert first.status_code == retry.status_code == 201, retry.content
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert Trade.objects.count() == 1
    assert level(stocked_ceres, water).on_hand == 95
    other = client.post(
        retry_path, new_trade_body(quantity=6), format="json", HTTP_IDEMPOTENCY_KEY="k-s"
    )
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"


def test_a_key_recorded_before_the_slash_was_ignored_still_replays():
    """Records made on /api/trades/ before keep their meaning: their fingerprint is the one
    made now, from either path."""
    import hashlib
    import json

    from trades import idempotency

    body = new_trade_body()
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    before = hashlib.sha256(f"/api/trades/\n{canonical}".encode()).hexdigest()
    assert idempotency.fingerprint("/api/trades/", body) == before
    assert idempotency.fingerprint("/api/trades", body) == before
