"""Consent in the Django admin: proposals answered with actions, agreements granted and revoked,
a trade placed from the admin only with the buyer's say (and nothing left of a refused one), a
loss decided by the end that bears it, the ledger saying whose say let a debit commit, and no
page or message showing a station's credits to anyone but its operators."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from cargo.models import Cargo
from cargo.services import shipment_update
from core.models import OutboxEvent
from credits.models import Account, Transfer
from tests.factories import StationFactory, grant_agreement
from tests.helpers import level, trade_form
from trades.models import Agreement, Trade, TradeLine
from trades.proposals import proposal_create
from trades.services import LineSpec, trade_initiate

pytestmark = pytest.mark.django_db


def propose(seller, buyer, commodity, quantity, price, actor, **extra):
    return proposal_create(
        seller=seller,
        buyer=buyer,
        lines=[LineSpec(commodity, quantity, Decimal(price))],
        actor=actor,
        **extra,
    )


def act(client, admin_name, action, *objects):
    return client.post(
        reverse(f"admin:{admin_name}_changelist"),
        {"action": action, "_selected_action": [o.pk for o in objects]},
        follow=True,
    )


def shown(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- Trades placed in the admin ------------------------------------------------------------


def test_a_trade_without_the_buyers_consent_is_refused_on_the_form_and_nothing_is_written(
    client, ceres_op, stocked_ceres, vesta, water
):
    client.force_login(ceres_op)
    held_before = Account.objects.get(station=vesta).held

    response = client.post(
        reverse("admin:trades_trade_add"), trade_form(stocked_ceres, vesta, (water, 5, "2.00"))
    )

    assert response.status_code == 200  # the form again, with what was typed
    assert "vesta-yards has not consented to this trade" in response.text
    assert not Trade.objects.exists() and not TradeLine.objects.exists()
    assert level(stocked_ceres, water).on_hand == 100
    assert Account.objects.get(station=vesta).held == held_before


def test_a_refusal_after_the_trade_row_is_saved_leaves_no_unplaced_trade_behind(
    client, monkeypatch, ceres_op, vesta_op, stocked_ceres, vesta, water
):
    """The form saw an agreement; it is revoked before the placement (a race lost): the
    placement refuses in save_related, after the trade row and its lines were written, and
    all of it is rolled back with a message."""
    agreement = grant_agreement(vesta, stocked_ceres)
    import trades.admin
    from trades.agreements import agreement_revoke

    place = trades.admin.trade_place

    def revoked_meanwhile(*, trade, actor):
        assert Trade.objects.filter(pk=trade.pk).exists()  # the row is there by now
        agreement_revoke(agreement=agreement, actor=vesta_op)
        return place(trade=trade, actor=actor)

    monkeypatch.setattr(trades.admin, "trade_place", revoked_meanwhile)
    client.force_login(ceres_op)
    OutboxEvent.objects.all().delete()

    response = client.post(
        reverse("admin:trades_trade_add"),
        trade_form(stocked_ceres, vesta, (water, 5, "2.00")),
        follow=True,
    )

    assert any("has not consented" in m for m in shown(response)), shown(response)
    assert not Trade.objects.exists() and not TradeLine.objects.exists()
    assert level(stocked_ceres, water).on_hand == 100
    assert not Transfer.objects.filter(kind="trade").exists()
    # Nothing announced either: the events are written in the same transaction.
    assert not OutboxEvent.objects.filter(type__startswith="trade.").exists()


def test_the_sellers_operator_never_reads_the_buyers_figures_in_a_refusal(
    client, ceres_op, stocked_ceres, vesta, water
):
    grant_agreement(vesta, stocked_ceres)
    available = Account.objects.get(station=vesta).available
    client.force_login(ceres_op)

    response = client.post(
        reverse("admin:trades_trade_add"),
        trade_form(stocked_ceres, vesta, (water, 1, str(available + 1))),
        follow=True,
    )

    messages = shown(response)
    assert any("vesta-yards cannot pay" in m for m in messages), messages
    assert str(available) not in response.text
    assert "available" not in " ".join(messages)
    assert not Trade.objects.exists()


def test_a_trade_under_an_agreement_is_placed_from_the_admin_and_names_it(
    client, ceres_op, stocked_ceres, vesta, water, vesta_grants_ceres
):
    client.force_login(ceres_op)
    response = client.post(
        reverse("admin:trades_trade_add"), trade_form(stocked_ceres, vesta, (water, 3, "2.00"))
    )
    assert response.status_code == 302
    trade = Trade.objects.get()
    assert trade.agreement == vesta_grants_ceres
    page = client.get(reverse("admin:trades_trade_change", args=[trade.pk]))
    assert vesta_grants_ceres.agreement_id in page.text


# --- Proposals ---------------------------------------------------------------------------------


def test_proposals_are_listed_only_for_the_operators_stations(
    client, ceres_op, vesta_op, stocked_ceres, vesta, water
):
    titan = StationFactory(code="titan")
    ours = propose(stocked_ceres, vesta, water, 2, "3.00", ceres_op)
    theirs = propose(titan, vesta, water, 2, "3.00", vesta_op)
    client.force_login(ceres_op)

    listing = client.get(reverse("admin:trades_proposal_changelist"))

    assert listing.status_code == 200
    assert ours.proposal_id in listing.text and theirs.proposal_id not in listing.text
    foreign = client.get(reverse("admin:trades_proposal_change", args=[theirs.pk]))
    assert foreign.status_code == 302  # not found for this operator
    page = client.get(reverse("admin:trades_proposal_change", args=[ours.pk]))
    assert "2 t Water at 3.00" in page.text


def test_the_buyers_operator_accepts_and_the_trade_is_placed(
    client, ceres_op, vesta_op, stocked_ceres, vesta, water
):
    proposal = propose(stocked_ceres, vesta, water, 4, "3.00", ceres_op)
    client.force_login(vesta_op)

    response = act(client, "trades_proposal", "accept", proposal)

    proposal.refresh_from_db()
    assert proposal.status == "accepted" and proposal.answered_by == vesta_op
    trade = proposal.trade
    assert f"Accepted: {proposal.proposal_id} (trade {trade.transaction_id})." in shown(response)
    assert level(stocked_ceres, water).on_hand == 96
    transfer = trade.settlement
    assert (transfer.consent, transfer.consented_by) == ("operator", vesta_op)


def test_the_proposing_side_cannot_accept_its_own_proposal_but_may_withdraw_it(
    client, ceres_op, stocked_ceres, vesta, water
):
    proposal = propose(stocked_ceres, vesta, water, 4, "3.00", ceres_op)
    client.force_login(ceres_op)

    refused = act(client, "trades_proposal", "accept", proposal)
    assert any("Only operators of vesta-yards" in m for m in shown(refused)), shown(refused)
    proposal.refresh_from_db()
    assert proposal.status == "open" and not Trade.objects.exists()

    withdrawn = act(client, "trades_proposal", "withdraw", proposal)
    assert f"Withdrawn: {proposal.proposal_id}." in shown(withdrawn)
    proposal.refresh_from_db()
    assert proposal.status == "withdrawn"


def test_the_buyer_declines(client, ceres_op, vesta_op, stocked_ceres, vesta, water):
    proposal = propose(stocked_ceres, vesta, water, 4, "3.00", ceres_op)
    client.force_login(vesta_op)

    act(client, "trades_proposal", "decline", proposal)

    proposal.refresh_from_db()
    assert proposal.status == "declined" and not Trade.objects.exists()


def test_a_seller_accepting_a_buyer_short_of_credits_reads_no_figures(
    client, ceres_op, vesta_op, stocked_ceres, vesta, water
):
    available = Account.objects.get(station=vesta).available
    proposal = propose(stocked_ceres, vesta, water, 1, str(available + 1), vesta_op)
    client.force_login(ceres_op)

    refused = act(client, "trades_proposal", "accept", proposal)

    messages = shown(refused)
    assert any("vesta-yards cannot pay" in m for m in messages), messages
    assert str(available) not in refused.text
    proposal.refresh_from_db()
    assert proposal.status == "open"


def test_proposals_are_not_added_or_edited_in_the_admin(client, ceres_op, stocked_ceres, vesta):
    client.force_login(ceres_op)
    assert client.get(reverse("admin:trades_proposal_add")).status_code == 403


# --- Agreements --------------------------------------------------------------------------------


def agreement_form(buyer, seller, **extra):
    return {
        "buyer": buyer.pk,
        "seller": seller.pk,
        "max_unit_price": "10.00",
        "max_trade_total": "100.00",
        "max_outstanding": "500.00",
        **extra,
    }


def test_the_buyers_operator_grants_an_agreement_in_the_admin(
    client, vesta_op, stocked_ceres, vesta, water
):
    client.force_login(vesta_op)

    response = client.post(
        reverse("admin:trades_agreement_add"),
        agreement_form(vesta, stocked_ceres, commodities=[water.pk]),
    )

    assert response.status_code == 302, response.context["errors"] if response.context else ""
    agreement = Agreement.objects.get()
    assert (agreement.buyer, agreement.seller, agreement.granted_by) == (
        vesta,
        stocked_ceres,
        vesta_op,
    )
    assert list(agreement.commodities.all()) == [water]
    assert OutboxEvent.objects.filter(type="agreement.granted").count() == 1


def test_an_operator_grants_only_for_its_own_stations_and_checks_show_on_the_form(
    client, ceres_op, vesta_op, stocked_ceres, vesta
):
    client.force_login(ceres_op)
    foreign = client.post(
        reverse("admin:trades_agreement_add"), agreement_form(vesta, stocked_ceres)
    )
    assert foreign.status_code == 200 and "Select a valid choice" in foreign.text

    client.force_login(vesta_op)
    bad = client.post(
        reverse("admin:trades_agreement_add"),
        agreement_form(vesta, stocked_ceres, max_trade_total="900.00"),
    )
    assert bad.status_code == 200 and "May not be more than max outstanding." in bad.text
    assert not Agreement.objects.exists()


def test_only_the_buyers_operators_revoke_and_a_granted_agreement_is_not_edited(
    client, ceres_op, vesta_op, stocked_ceres, vesta, water
):
    agreement = grant_agreement(vesta, stocked_ceres)
    client.force_login(ceres_op)  # the seller's: sees it, may not end it
    listing = client.get(reverse("admin:trades_agreement_changelist"))
    assert agreement.agreement_id in listing.text
    refused = act(client, "trades_agreement", "revoke", agreement)
    assert any("Only operators of vesta-yards" in m for m in shown(refused))
    agreement.refresh_from_db()
    assert agreement.revoked_at is None

    client.force_login(vesta_op)
    change = reverse("admin:trades_agreement_change", args=[agreement.pk])
    assert 'name="max_outstanding"' not in client.get(change).text
    client.post(change, {"max_outstanding": "1.00"})
    agreement.refresh_from_db()
    assert agreement.max_outstanding != Decimal("1.00")

    act(client, "trades_agreement", "revoke", agreement)
    agreement.refresh_from_db()
    assert agreement.revoked_by == vesta_op


def test_an_agreements_uses_link_to_its_trades(
    client, ceres_op, vesta_op, stocked_ceres, vesta, water, vesta_grants_ceres
):
    used = trade_initiate(
        seller=stocked_ceres, buyer=vesta, lines=[LineSpec(water, 2, Decimal(1))], actor=ceres_op
    )
    own = trade_initiate(
        seller=stocked_ceres,
        buyer=vesta,
        lines=[LineSpec(water, 1, Decimal(1))],
        actor=None,  # the server: no agreement needed
    )
    client.force_login(vesta_op)

    listing = client.get(reverse("admin:trades_agreement_changelist"))
    assert f"?agreement={vesta_grants_ceres.agreement_id}" in listing.text
    assert "1 trade<" in listing.text
    uses = client.get(
        reverse("admin:trades_trade_changelist"), {"agreement": vesta_grants_ceres.agreement_id}
    )
    assert used.transaction_id in uses.text and own.transaction_id not in uses.text


# --- Shipments: a loss is decided by the end that bears it -------------------------------------


@pytest.mark.parametrize(("terms", "decider"), [("seller_risk", "ceres"), ("buyer_risk", "vesta")])
def test_only_the_end_that_bears_a_loss_is_offered_it(
    client, ceres_op, vesta_op, stocked_ceres, vesta, water, terms, decider
):
    trade = trade_initiate(
        seller=stocked_ceres, buyer=vesta, lines=[LineSpec(water, 2, Decimal(1))], terms=terms
    )
    shipment = shipment_update(shipment=trade.cargo, status="in_transit")
    url = reverse("admin:cargo_cargo_change", args=[shipment.pk])
    users = {"ceres": ceres_op, "vesta": vesta_op}
    for name, user in users.items():
        client.force_login(user)
        page = client.get(url)
        assert ('<option value="lost"' in page.text) == (name == decider), name

    bystander = users["vesta" if decider == "ceres" else "ceres"]
    client.force_login(bystander)
    form = {
        "status": "lost",
        "eta_0": shipment.eta.strftime("%Y-%m-%d"),
        "eta_1": shipment.eta.strftime("%H:%M:%S"),
        "location_note": "",
        "note": "",
        "tracking_events-TOTAL_FORMS": "0",
        "tracking_events-INITIAL_FORMS": "0",
        "tracking_events-MIN_NUM_FORMS": "0",
        "tracking_events-MAX_NUM_FORMS": "0",
    }
    assert client.post(url, form).status_code == 200
    assert Cargo.objects.get(pk=shipment.pk).status == "in_transit"

    # The bystander reports it instead; both ends read the report on the shipment.
    reported = act(client, "cargo_cargo", "report_loss", shipment)
    assert f"Reported as possibly lost: {shipment.shipment_id}." in shown(reported)
    shipment.refresh_from_db()
    assert shipment.loss_reported_by == bystander
    client.force_login(users[decider])
    page = client.get(url)
    assert "reported in the admin" in page.text
    assert 'name="loss_report_note"' not in page.text  # shown, not editable


# --- Credits: whose say, and whose figures -----------------------------------------------------


def test_the_ledger_says_whose_say_let_each_debit_commit(
    client, ceres_op, vesta_op, stocked_ceres, vesta, water
):
    agreement = grant_agreement(vesta, stocked_ceres, actor=vesta_op)
    trade_initiate(
        seller=stocked_ceres, buyer=vesta, lines=[LineSpec(water, 2, Decimal(1))], actor=ceres_op
    )
    proposal = propose(stocked_ceres, vesta, water, 1, "1.00", ceres_op)
    from trades.proposals import proposal_accept

    proposal_accept(proposal=proposal, actor=vesta_op)
    client.force_login(vesta_op)

    entries = client.get(reverse("admin:credits_entry_changelist"))

    assert entries.status_code == 200
    text = entries.text
    assert f"A standing agreement {agreement.agreement_id} (granted by vesta-op)" in text
    assert "The station&#x27;s operator (vesta-op)" in text


def test_an_operator_reads_no_other_stations_account(client, ceres_op, stocked_ceres, vesta, water):
    client.force_login(ceres_op)
    theirs = Account.objects.get(station=vesta)
    listing = client.get(reverse("admin:credits_account_changelist"))
    assert listing.status_code == 200
    assert "ceres-prime" in listing.text and "vesta-yards" not in listing.text
    assert client.get(reverse("admin:credits_account_change", args=[theirs.pk])).status_code == 302
    entries = client.get(reverse("admin:credits_entry_changelist"))
    assert "vesta-yards" not in entries.text


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:trades_proposal_changelist",
        "admin:trades_agreement_changelist",
        "admin:trades_agreement_add",
        "admin:credits_entry_changelist",
        "admin:cargo_cargo_changelist",
    ],
)
def test_the_consent_pages_render_for_dispatch(
    client, dispatcher, ceres_op, stocked_ceres, vesta, water, url_name, vesta_grants_ceres
):
    propose(stocked_ceres, vesta, water, 1, "1.00", ceres_op)
    trade_initiate(
        seller=stocked_ceres, buyer=vesta, lines=[LineSpec(water, 1, Decimal(1))], actor=ceres_op
    )
    client.force_login(dispatcher)
    assert client.get(reverse(url_name)).status_code == 200
