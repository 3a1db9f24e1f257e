"""Bodies built to hurt, sent to a live server process: each is refused cheaply, in the error
shape, and leaves nothing written."""

from __future__ import annotations

import httpx
import pytest
from knox.models import AuthToken

from tests.factories import CommodityFactory, StationFactory, UserFactory, give_stock
from trades.models import Trade

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def dispatch_headers():
    give_stock(StationFactory(code="ceres-prime"), CommodityFactory(code="water"), 100)
    StationFactory(code="vesta-yards")
    _, token = AuthToken.objects.create(user=UserFactory(username="staff", is_superuser=True))
    return {"Authorization": f"Token {token}", "Content-Type": "application/json"}


def post(server, headers, body: bytes) -> httpx.Response:
    return httpx.post(f"{server}/api/trades/", content=body, headers=headers, timeout=60)


def test_json_nested_a_hundred_thousand_levels_is_a_400(api_server, dispatch_headers):
    response = post(api_server, dispatch_headers, b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert "nested" in response.json()["message"]


def test_json_nested_deeper_than_any_request_needs_is_a_400(api_server, dispatch_headers):
    response = post(api_server, dispatch_headers, b'{"a": ' * 40 + b"1" + b"}" * 40)
    assert response.status_code == 400
    assert "nested deeper than 32" in response.json()["message"]


def test_a_key_given_twice_is_refused_naming_the_key(api_server, dispatch_headers):
    body = (
        b'{"seller": "vesta-yards", "seller": "ceres-prime", "buyer": "vesta-yards", '
        b'"items": [{"commodity": "water", "quantity": 1, "unit_price": "1.00"}]}'
    )
    response = post(api_server, dispatch_headers, body)
    assert response.status_code == 400
    assert "'seller' more than once" in response.json()["message"]
    assert not Trade.objects.exists()


def test_a_body_over_the_limit_is_a_413_in_the_error_shape(api_server, dispatch_headers):
    padding = b" " * (3 * 1024 * 1024)  # DATA_UPLOAD_MAX_MEMORY_SIZE is 2.5 MB
    response = post(api_server, dispatch_headers, b'{"seller": "ceres-prime"' + padding + b"}")
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["code"] == "payload_too_large"


def test_metrics_answer_the_deployments_scrapers_only(api_server):
    assert httpx.get(f"{api_server}/metrics", timeout=10).status_code == 200  # loopback
    # Through the (trusted, loopback) proxy, for a client out on the internet:
    outside = {"X-Forwarded-For": "203.0.113.9"}
    refused = httpx.get(f"{api_server}/metrics", headers=outside, timeout=10)
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"


def test_metrics_answer_a_scraper_with_the_token_from_anywhere(django_db_blocker):
    from tests.servers import server_env, uvicorn_server

    env = server_env(TRADENET_METRICS_TOKEN="scrape-me-" + "s" * 20)
    env["TRADENET_METRICS_ALLOWED_CIDRS"] = "192.0.2.0/24"  # not loopback: only the token
    with django_db_blocker.unblock(), uvicorn_server(env=env) as server:
        url = f"{server}/metrics"
        assert httpx.get(url, timeout=10).status_code == 403
        wrong = {"Authorization": "Bearer nope"}
        assert httpx.get(url, headers=wrong, timeout=10).status_code == 403
        right = {"Authorization": "Bearer scrape-me-" + "s" * 20}
        assert httpx.get(url, headers=right, timeout=10).status_code == 200


def test_guessing_a_password_is_refused_across_workers_whatever_x_forwarded_for_says(
    api_server,
):
    from django.conf import settings

    UserFactory(username="target")
    statuses = []
    for guess in range(settings.AXES_FAILURE_LIMIT + 10):
        response = httpx.post(
            f"{api_server}/api/auth/token/",
            json={"username": "target", "password": f"guess-{guess}"},
            # A new address every time, as a spoofing client would claim.
            headers={"X-Forwarded-For": f"198.51.100.{guess}"},
            timeout=10,
        )
        statuses.append(response.status_code)
    limit = settings.AXES_FAILURE_LIMIT
    # Spread over the server's three workers; the failure that reaches the limit is refused.
    assert statuses[: limit - 1] == [400] * (limit - 1)
    assert set(statuses[limit - 1 :]) == {429}
    assert int(response.headers["Retry-After"]) > 0
