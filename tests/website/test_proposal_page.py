"""Proposals on the station page: in a real browser (Debian's Chromium, Playwright) the buyer's
operator sees what waits for their answer, accepts one (the trade is placed) and declines
another that arrived while the page was open; through Django's client, the seller's operator
withdraws theirs and reads no buyer's figures in a refusal, and strangers answer nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from credits.models import Account
from inventory.services import operator_grant
from tests.factories import CommodityFactory, StationFactory, UserFactory, give_stock
from tests.helpers import level, sign_in_to_live_page, wait_for
from trades.models import Proposal, Trade
from trades.proposals import proposal_create
from trades.services import LineSpec

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def market():
    """Ceres sells water; Vesta buys. ana operates Vesta (the buyer), bo operates Ceres."""
    ceres = StationFactory(code="ceres-prime")
    vesta = StationFactory(code="vesta-yards", funds="4321.09")  # figures no other has
    water = CommodityFactory(code="water", name="Water")
    give_stock(ceres, water, 100)
    ana, bo = UserFactory(username="ana", is_staff=True), UserFactory(username="bo")
    operator_grant(user=ana, stations=[vesta])
    operator_grant(user=bo, stations=[ceres])
    return {"ceres": ceres, "vesta": vesta, "water": water, "ana": ana, "bo": bo}


def offer(market, quantity, price="2.00", *, by="bo", note=""):
    """A proposal of water from Ceres to Vesta, made by `by` for their side."""
    return proposal_create(
        seller=market["ceres"],
        buyer=market["vesta"],
        lines=[LineSpec(market["water"], quantity, Decimal(price))],
        actor=market[by],
        note=note,
    )


def test_the_buyer_accepts_and_declines_on_the_station_page(stream_server, market, browser_page):
    page = browser_page
    first = offer(market, 7, note="first delivery")
    requested = []
    page.on("request", lambda request: requested.append(request.url))

    sign_in_to_live_page(page, stream_server, "/stations/vesta-yards/")

    row = page.locator(f'#proposals-waiting tr[data-proposal="{first.proposal_id}"]')
    assert row.count() == 1
    text = row.inner_text()
    assert "Ceres Prime would sell" in text and "7 t Water at 2.00 cr" in text
    assert "14.00 cr" in text and "first delivery" in text

    # Accept: the trade is placed, and the page says so.
    row.locator("button.accept").click()
    page.wait_for_selector("#messages li.success", timeout=15_000)
    first.refresh_from_db()
    assert first.status == "accepted" and first.answered_by == market["ana"]
    trade = Trade.objects.get()
    assert (trade.seller, trade.buyer, trade.placed_at is not None) == (
        market["ceres"],
        market["vesta"],
        True,
    )
    assert trade.settlement.consent == "operator" and trade.settlement.consented_by == market["ana"]
    assert level(market["ceres"], market["water"]).on_hand == 93
    message = page.inner_text("#messages")
    assert f"Accepted {first.proposal_id}: trade {trade.transaction_id} is placed." in message
    assert page.locator(f'#trades tr[data-trade="{trade.transaction_id}"]').count() == 1
    assert page.locator(f'tr[data-proposal="{first.proposal_id}"]').count() == 0

    # A proposal made while the page is open shows up live (proposal.created on the stream).
    page.wait_for_selector("body[data-stream=live]", timeout=15_000)
    second = offer(market, 3, price="5.00")
    second_row = page.locator(f'#proposals-waiting tr[data-proposal="{second.proposal_id}"]')
    second_row.wait_for(timeout=15_000)

    second_row.locator("button.decline").click()
    page.wait_for_selector("#messages li.success", timeout=15_000)
    assert f"Declined {second.proposal_id}." in page.inner_text("#messages")
    second.refresh_from_db()
    assert second.status == "declined" and second.answered_by == market["ana"]
    assert Trade.objects.count() == 1
    assert page.locator(f'tr[data-proposal="{second.proposal_id}"]').count() == 0
    assert "Nothing waiting for an answer." in page.inner_text("#proposals-waiting")

    # Every asset is served by us: nothing from another origin.
    assert all(url.startswith(stream_server) for url in requested), requested


def test_a_proposal_answered_elsewhere_leaves_the_open_page(stream_server, market, browser_page):
    page = browser_page
    proposal = offer(market, 2)
    sign_in_to_live_page(page, stream_server, "/stations/vesta-yards/")
    row = page.locator(f'tr[data-proposal="{proposal.proposal_id}"]')
    assert row.count() == 1

    from trades.proposals import proposal_withdraw

    proposal_withdraw(proposal=proposal, actor=market["bo"])

    assert wait_for(lambda: row.count() == 0, timeout=15), "the withdrawn proposal stayed"


# --- Through Django's client: the same forms, without a browser --------------------------------


def station(code):
    return reverse("station", args=[code])


def test_the_proposing_side_lists_its_own_and_withdraws(client, market):
    proposal = offer(market, 2)
    client.force_login(market["bo"])

    page = client.get(station("ceres-prime"))
    assert page.status_code == 200
    sent = page.text.split('id="proposals-sent"')[1].split("</table>")[0]
    assert proposal.proposal_id in sent and "Selling to Vesta Yards" in sent
    waiting = page.text.split('id="proposals-waiting"')[1].split("</table>")[0]
    assert proposal.proposal_id not in waiting  # not bo's to accept

    # Accepting one's own proposal is refused; withdrawing it is not.
    refused = client.post(
        station("ceres-prime"), {"proposal": proposal.proposal_id, "answer": "accept"}, follow=True
    )
    assert "Only operators of vesta-yards" in refused.text
    answered = client.post(
        station("ceres-prime"),
        {"proposal": proposal.proposal_id, "answer": "withdraw"},
        follow=True,
    )
    assert answered.redirect_chain == [(station("ceres-prime"), 303)]
    assert f"Withdrew {proposal.proposal_id}." in answered.text
    proposal.refresh_from_db()
    assert proposal.status == "withdrawn"


def test_a_seller_accepting_reads_no_buyers_figures(client, market):
    available = Account.objects.get(station=market["vesta"]).available
    proposal = offer(market, 1, price=str(available + 1), by="ana")  # the buyer proposes
    client.force_login(market["bo"])

    answered = client.post(
        station("ceres-prime"), {"proposal": proposal.proposal_id, "answer": "accept"}, follow=True
    )

    assert "vesta-yards cannot pay" in answered.text
    assert str(available) not in answered.text
    proposal.refresh_from_db()
    assert proposal.status == "open" and not Trade.objects.exists()


def test_strangers_neither_see_the_page_nor_answer(client, market):
    proposal = offer(market, 2)
    client.force_login(UserFactory(username="cy"))
    assert client.get(station("vesta-yards")).status_code == 404
    refused = client.post(
        station("vesta-yards"), {"proposal": proposal.proposal_id, "answer": "accept"}
    )
    assert refused.status_code == 404
    # A proposal of another station, named on one's own page, is not found there either.
    titan = StationFactory(code="titan")
    operator_grant(user=UserFactory(username="cy"), stations=[titan])
    client.post(station("titan"), {"proposal": proposal.proposal_id, "answer": "accept"})
    proposal.refresh_from_db()
    assert proposal.status == Proposal.Status.OPEN


def test_an_answer_without_its_csrf_token_is_refused(market):
    from django.test import Client

    proposal = offer(market, 2)
    client = Client(enforce_csrf_checks=True)
    client.force_login(market["ana"])
    refused = client.post(
        station("vesta-yards"), {"proposal": proposal.proposal_id, "answer": "accept"}
    )
    assert refused.status_code == 403
    proposal.refresh_from_db()
    assert proposal.status == "open"
