"""Helpers shared by the tests: stock levels and the ledger check, a signed-in client's
headers, a trade over HTTP, waiting for a condition with a deadline (tests assert behaviour,
not speed, so deadlines are generous)."""

from __future__ import annotations

import time

import httpx
from knox.models import AuthToken

from inventory.models import StockLevel, StockMovement


def token_header(user) -> dict:
    """`Authorization` for a new API token of `user`."""
    _, token = AuthToken.objects.create(user=user)
    return {"Authorization": f"Token {token}"}


def post_trade(base, headers, seller: str, buyer: str, quantity: int = 1) -> httpx.Response:
    """Place a trade of water through a live server's API."""
    body = {
        "seller": seller,
        "buyer": buyer,
        "items": [{"commodity": "water", "quantity": quantity, "unit_price": "2.00"}],
    }
    return httpx.post(f"{base}/api/trades/", json=body, headers=headers, timeout=30)


def wait_for(condition, timeout: float = 30) -> bool:
    """Whether `condition()` holds before `timeout` seconds pass (checked every 0.1 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


def level(station, commodity) -> StockLevel:
    return StockLevel.objects.get(station=station, commodity=commodity)


def assert_ledger_matches_levels() -> None:
    """Every level equals the sum of its ledger rows, bucket by bucket."""
    sums: dict[tuple[int, int, str], int] = {}
    for m in StockMovement.objects.all():
        key = (m.station_id, m.commodity_id, m.bucket)
        sums[key] = sums.get(key, 0) + m.delta
    levels = list(StockLevel.objects.all())
    assert levels, "no stock levels to check"
    for lvl in levels:
        assert lvl.on_hand == sums.get((lvl.station_id, lvl.commodity_id, "on_hand"), 0), lvl
        assert lvl.incoming == sums.get((lvl.station_id, lvl.commodity_id, "incoming"), 0), lvl


def sign_in_to_live_page(page, server, path: str, username: str = "ana") -> None:
    """A browser opens a page signed out, is sent to the admin's sign-in form, signs in with the
    factories' password and lands on the page, whose event stream goes live."""
    page.goto(f"{server}{path}")
    assert "/admin/login/" in page.url  # signed-out visitors are sent to sign in
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-correct-horse-42")
    page.click("input[type=submit]")
    page.wait_for_url(f"{server}{path}")
    page.wait_for_selector("body[data-stream=live]", timeout=15_000)


def trade_form(seller, buyer, *lines):
    """The admin's "add trade" form: the stations and (commodity, quantity, unit price) lines."""
    data = {
        "seller": seller.pk,
        "buyer": buyer.pk,
        "lines-TOTAL_FORMS": str(len(lines)),
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "1",
        "lines-MAX_NUM_FORMS": "1000",
    }
    for i, (commodity, quantity, price) in enumerate(lines):
        data |= {
            f"lines-{i}-commodity": commodity.pk,
            f"lines-{i}-quantity": quantity,
            f"lines-{i}-unit_price": price,
        }
    return data


def answers(url: str) -> bool:
    """Whether `url` answers 200 now (a server's probe, while waiting for it)."""
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
