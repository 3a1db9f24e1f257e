"""kill -9 of the production server under trade load costs no trade its hold and no account
change its event."""

from __future__ import annotations

import time

import pytest

from credits.models import Entry, Transfer
from tests.credits.test_concurrency import assert_entries_replay_to_the_balances
from tests.factories import CommodityFactory, StationFactory, UserFactory, give_stock
from tests.helpers import token_header
from tests.servers import free_port
from tests.sse import SSEClient
from tests.updates.log.test_crash import STATIONS, killed_under_load, production_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def market():
    water = CommodityFactory(code="water")
    for code in STATIONS:
        give_stock(StationFactory(code=code), water, 100_000)
    return token_header(UserFactory(username="staff", is_superuser=True))


def account_changes(base: str, headers: dict, expected: int, timeout: float = 90) -> list:
    """Every account.changed the stream has from the beginning, until `expected` arrived."""
    seen: list = []
    with SSEClient(
        f"{base}/api/updates/real-time/", headers={**headers, "Last-Event-ID": "0"}
    ) as stream:
        assert stream.status == 200
        deadline = time.monotonic() + timeout
        while len(seen) < expected and time.monotonic() < deadline:
            try:
                seen.append(stream.next_of("account.changed", timeout=2).json)
            except Exception:
                continue
    return seen


def test_kill_9_under_trade_load_leaves_every_hold_and_every_account_event(market, tmp_path):
    port = free_port()
    answered = killed_under_load(tmp_path, port, market, rounds=2)
    assert len(answered) >= 60

    held = Transfer.objects.filter(trade__transaction_id__in=answered, status="pending")
    assert held.count() == len(set(answered))  # every 201 has its hold
    assert all(t.amount == 1 for t in held)
    assert_entries_replay_to_the_balances()

    # Every entry of a station's account announced its change, once.
    entries = Entry.objects.filter(account__station__isnull=False).select_related(
        "account__station"
    )
    expected = sorted(
        (e.account.station.code, str(e.balance_after), str(e.held_after), e.kind) for e in entries
    )
    with production_server(tmp_path, port):
        seen = account_changes(f"http://127.0.0.1:{port}", market, len(expected))
    assert sorted((s["station"], s["balance"], s["held"], s["kind"]) for s in seen) == expected
