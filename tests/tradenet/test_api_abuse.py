"""Bodies built to hurt, sent to a live server process: each is refused cheaply, in the error
shape, and leaves nothing written."""

from __future__ import annotations

import contextlib

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


def raw_request(server: str, head: bytes, timeout: float = 30) -> bytes:
    """Send `head` on a socket of its own (as much of it as the server takes) and return what
    the server answered before closing."""
    import socket
    from urllib.parse import urlsplit

    address = urlsplit(server)
    with socket.create_connection((address.hostname, address.port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # the server closed while we were still sending
            sock.sendall(head)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
        return answer


@pytest.fixture
def guarded_server(django_db_blocker):
    """One uvicorn process (so its memory is the server's) with a short body-read timeout."""
    from tests.servers import server_env, uvicorn_server

    env = server_env(TRADENET_BODY_READ_TIMEOUT_SECONDS="2")
    with django_db_blocker.unblock(), uvicorn_server(workers=1, env=env) as server:
        yield server


def test_a_flood_of_huge_headers_is_refused_early_and_memory_stays_flat(guarded_server):
    import psutil

    server = psutil.Process(guarded_server.pid)
    before = server.memory_info().rss
    big = b"x" * (20 * 1024 * 1024)
    answers = [
        raw_request(guarded_server, b"GET /api/ HTTP/1.1\r\nHost: h\r\nX-Big: " + big)[:30]
        for _ in range(20)
    ]
    # 431, unless the reset of a connection closed mid-upload swallowed the answer.
    assert all(a.startswith(b"HTTP/1.1 431") or a == b"" for a in answers), answers
    assert any(a.startswith(b"HTTP/1.1 431") for a in answers), answers
    grown = server.memory_info().rss - before
    assert grown < 50 * 1024 * 1024, f"the server grew by {grown / 2**20:.0f} MB"
    assert httpx.get(f"{guarded_server}/healthz", timeout=10).status_code == 200


def test_a_header_line_or_header_count_over_the_limits_is_a_400(guarded_server):
    long_line = b"GET /api/ HTTP/1.1\r\nHost: h\r\nX-Long: " + b"y" * 9000 + b"\r\n\r\n"
    assert raw_request(guarded_server, long_line).startswith(b"HTTP/1.1 400")
    many = b"".join(b"X-F%d: v\r\n" % n for n in range(101))
    answer = raw_request(guarded_server, b"GET /api/ HTTP/1.1\r\nHost: h\r\n" + many + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 400")
    ordinary = httpx.get(f"{guarded_server}/api/", headers={"X-Fine": "z" * 4000}, timeout=10)
    assert ordinary.status_code in (401, 404)  # reached the application


def test_a_chunked_body_that_never_ends_is_cut_off(guarded_server):
    import time

    started = time.monotonic()
    raw_request(
        guarded_server,
        b"POST /api/trades/ HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
        b'Transfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n',  # and then nothing, ever
        timeout=60,
    )
    assert time.monotonic() - started < 30  # closed by the server's 2 s read timeout
