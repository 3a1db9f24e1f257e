"""Fixtures that tests of several packages share (loaded by tests/conftest.py): galaxies of
stations with their operators, and a signed-in Chromium page."""

from __future__ import annotations

import shutil

import pytest

from inventory.services import operator_grant
from tests.factories import (
    CommodityFactory,
    StationFactory,
    UserFactory,
    give_stock,
    grant_agreement,
)


@pytest.fixture
def galaxy():
    """Three stations with water, an operator each (ana, bo, cy) and dispatch staff; each station
    has granted each other one a standing agreement, so each operator sells to the others in one
    request (docs/api.md#consent)."""
    ceres, vesta, titan = (StationFactory(code=c) for c in ("ceres-prime", "vesta-yards", "titan"))
    water = CommodityFactory(code="water")
    for station in (ceres, vesta, titan):
        give_stock(station, water, 100)
    for buyer in (ceres, vesta, titan):
        for seller in (ceres, vesta, titan):
            if buyer != seller:
                grant_agreement(buyer, seller)
    people = {}
    for name, station in (("ana", ceres), ("bo", vesta), ("cy", titan)):
        people[name] = UserFactory(username=name)
        operator_grant(user=people[name], stations=[station])
    people["staff"] = UserFactory(username="staff", is_superuser=True)
    return {"stations": (ceres, vesta, titan), "people": people}


MARKET_STATIONS = ("ceres-prime", "vesta-yards", "titan", "luna-gateway")


@pytest.fixture
def market():
    """Four stations with ample water; the headers of a dispatch staff token."""
    from tests.helpers import token_header

    water = CommodityFactory(code="water")
    for code in MARKET_STATIONS:
        give_stock(StationFactory(code=code), water, 100_000)
    return token_header(UserFactory(username="staff", is_superuser=True))


# Pages in a real browser: Debian's Chromium driven by Playwright.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser_page(monkeypatch):
    if not shutil.which("chromium"):
        pytest.skip(
            "Chromium is not installed: apt-get install chromium (scripts/ensure-test-tools)"
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the ORM calls the test makes
    # meanwhile are ordinary blocking calls, which Django would otherwise refuse there.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()
            # ORM calls made while Playwright's loop ran used a connection of their own.
            from django.db import connections

            connections.close_all()
