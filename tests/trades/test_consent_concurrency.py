"""An agreement's cap and its revocation under races, in real threads against PostgreSQL: the
cap admits exactly the trades it has room for, whatever their interleaving, and no trade
commits under an agreement after its revocation has committed (trades.consent.TAKE takes the
cap under the agreement's row lock, the lock agreement_revoke takes)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction

from credits.models import Account, Transfer
from tests.credits.test_concurrency import assert_entries_replay_to_the_balances
from tests.factories import grant_agreement
from tests.helpers import assert_ledger_matches_levels, level
from tests.inventory.test_concurrency import run_at_once
from trades.agreements import agreement_revoke
from trades.models import Agreement, Trade
from trades.services import LineSpec, trade_initiate

pytestmark = pytest.mark.django_db(transaction=True)

PRICE = Decimal("10.00")  # each trade: one unit of water at 10.00


def sell_one(seller, buyer, water, actor):
    return lambda: trade_initiate(
        seller=seller, buyer=buyer, lines=[LineSpec(water, 1, PRICE)], actor=actor
    )


def refusals(results) -> Counter:
    return Counter(type(r).__name__ for r in results if not isinstance(r, Trade))


def assert_agreement_matches_its_trades(agreement) -> None:
    agreement.refresh_from_db()
    under_way = Trade.objects.filter(agreement=agreement, status__in=["initiated", "in_transit"])
    assert agreement.outstanding == sum((t.total for t in under_way), Decimal(0))
    assert agreement.outstanding <= agreement.max_outstanding
    assert Transfer.objects.filter(agreement=agreement).count() == under_way.count()


@pytest.mark.parametrize("room", [1, 7])
def test_twenty_sellers_racing_for_an_agreement_with_room_for_n(
    stocked_ceres, vesta, water, ceres_op, room
):
    agreement = grant_agreement(
        vesta, stocked_ceres, max_trade_total=PRICE, max_outstanding=room * PRICE
    )
    held = Account.objects.get(station=vesta).held

    results = run_at_once([sell_one(stocked_ceres, vesta, water, ceres_op)] * 20, workers=20)

    placed = [r for r in results if isinstance(r, Trade)]
    assert len(placed) == room, refusals(results)
    # Refused as the cap was passed: found full (403) or taken first by another (409).
    assert set(refusals(results)) <= {"AgreementExhausted", "ConsentRequired"}, results
    agreement.refresh_from_db()
    assert agreement.outstanding == room * PRICE
    assert {t.agreement_id for t in Trade.objects.all()} == {agreement.pk}
    assert Account.objects.get(station=vesta).held == held + room * PRICE
    assert level(stocked_ceres, water).on_hand == 100 - room
    assert_agreement_matches_its_trades(agreement)
    assert_ledger_matches_levels()
    assert_entries_replay_to_the_balances()


def waiting_on_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def test_trades_waiting_on_a_revocation_are_refused_once_it_commits(
    stocked_ceres, vesta, water, ceres_op, vesta_op
):
    """The revocation holds the agreement's row while 19 trades under it start and queue
    behind it; it commits; not one of them commits under the agreement."""
    agreement = grant_agreement(vesta, stocked_ceres)
    before = Account.objects.get(station=vesta).held
    revoked, commit = threading.Event(), threading.Event()

    def revoke():
        try:
            with transaction.atomic():
                agreement_revoke(agreement=agreement, actor=vesta_op)
                revoked.set()
                commit.wait(30)
        finally:
            connection.close()

    sellers = 19
    with ThreadPoolExecutor(max_workers=sellers + 1) as pool:
        revoking = pool.submit(revoke)
        assert revoked.wait(30)
        trade = sell_one(stocked_ceres, vesta, water, ceres_op)

        def attempt():
            try:
                return trade()
            except Exception as exc:
                return exc
            finally:
                connection.close()

        attempts = [pool.submit(attempt) for _ in range(sellers)]
        deadline = time.monotonic() + 30
        while waiting_on_locks() < sellers and time.monotonic() < deadline:
            time.sleep(0.05)
        assert waiting_on_locks() == sellers  # every trade is queued behind the revocation
        commit.set()
        revoking.result(timeout=30)
        results = [a.result(timeout=60) for a in attempts]
    connections.close_all()

    assert refusals(results) == {"AgreementExhausted": sellers}, results
    assert not Trade.objects.exists()
    agreement.refresh_from_db()
    assert agreement.revoked_at is not None and agreement.outstanding == 0
    assert Account.objects.get(station=vesta).held == before
    assert level(stocked_ceres, water).on_hand == 100
    assert_ledger_matches_levels()
    assert_entries_replay_to_the_balances()


def test_a_revocation_racing_trades_under_a_cap_lets_none_through_after_it(
    stocked_ceres, vesta, water, ceres_op, vesta_op
):
    """19 trades and the revocation start together, with room under the cap for 10 trades; the
    revocation goes in once three have committed. A
    trade that succeeded was stamped before the revocation took the agreement's row (it held
    that row from its cap check to its commit); a trade begun after the revocation returned
    was refused; and the cap holds."""
    room = 10
    agreement = grant_agreement(
        vesta, stocked_ceres, max_trade_total=PRICE, max_outstanding=room * PRICE
    )
    trade = sell_one(stocked_ceres, vesta, water, ceres_op)
    times: dict[int, tuple[float, float]] = {}

    def timed(n, job):
        def run():
            started = time.monotonic()
            try:
                return job()
            finally:
                times[n] = (started, time.monotonic())

        return run

    def revoke_midway():
        # Once a few trades have committed, while the others still race.
        deadline = time.monotonic() + 30
        while Trade.objects.count() < 3 and time.monotonic() < deadline:
            time.sleep(0.001)
        return agreement_revoke(agreement=agreement, actor=vesta_op)

    jobs = [timed(n, trade) for n in range(19)]
    jobs.insert(7, timed(-1, revoke_midway))
    results = run_at_once(jobs, workers=20)

    revocation = results.pop(7)
    assert isinstance(revocation, Agreement), revocation
    revoked_at = Agreement.objects.get(pk=agreement.pk).revoked_at
    revoke_returned = times[-1][1]
    placed = [r for r in results if isinstance(r, Trade)]
    assert 3 <= len(placed) <= room
    assert set(refusals(results)) <= {"AgreementExhausted", "ConsentRequired"}, results
    for trade_result in placed:
        assert trade_result.created_at < revoked_at
    for n, result in enumerate(results):
        if times[n][0] > revoke_returned:
            assert not isinstance(result, Trade), (n, times[n], revoke_returned)
    assert_agreement_matches_its_trades(agreement)
    assert agreement.outstanding == len(placed) * PRICE
    assert_ledger_matches_levels()
    assert_entries_replay_to_the_balances()


def test_after_a_revocation_commits_no_trade_starts_under_it(
    stocked_ceres, vesta, water, ceres_op, vesta_op
):
    agreement = grant_agreement(vesta, stocked_ceres)
    agreement_revoke(agreement=agreement, actor=vesta_op)

    results = run_at_once([sell_one(stocked_ceres, vesta, water, ceres_op)] * 10, workers=10)

    assert refusals(results) == {"ConsentRequired": 10}, results
    assert not Trade.objects.exists()
