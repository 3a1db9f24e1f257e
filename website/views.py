from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from core.errors import DomainError
from core.replica import reads_from_replica
from core.views import not_found_page
from credits.disclosure import as_told_to
from inventory.access import acts_for_all_stations, stations_for
from trades.proposals import proposal_accept, proposal_decline, proposal_withdraw
from trades.selectors import proposals_visible_to
from website.galaxy import live_feed_context, map_state, station_dashboard

HOME_STATIONS = 60


@login_required
def live_page(request):
    """A live feed of trades, shipments and stock of the signed-in user's stations. It opens
    with the recent history (the stream replays it, as it replays a reconnection, filtered to
    what the user may see) and speaks in station and commodity names."""
    return render(request, "website/live.html", live_feed_context(request.user))


@login_required
def home(request):
    """Where the admin's "view site" and a bare URL lead: the pages, and the user's stations
    with a link to each one's page. Anonymous callers are sent to sign in first."""
    stations = stations_for(request.user).order_by("name").only("code", "name", "kind")
    listed = list(stations[: HOME_STATIONS + 1])
    return render(
        request,
        "website/home.html",
        {
            "all_stations": acts_for_all_stations(request.user),
            "stations": listed[:HOME_STATIONS],
            "more_stations": stations.count() - HOME_STATIONS if len(listed) > HOME_STATIONS else 0,
        },
    )


@login_required
def galaxy_map(request):
    """The galaxy map: every station, the caller's shipments on their way, live."""
    return render(request, "website/map.html", {"state": map_state(request.user)})


@login_required
@reads_from_replica
def galaxy_map_data(request):
    """The map's state as JSON: what the page starts from, and reloads after a stream reset."""
    return JsonResponse(map_state(request.user))


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
@reads_from_replica  # GET and HEAD only; a POST reads and writes on the primary
def station_page(request, code: str):
    """A station's dashboard, for its operators and dispatch staff (others: 404). A POST
    answers one of its proposals (the page's Accept, Decline and Withdraw buttons), then
    comes back here saying what happened."""
    station = stations_for(request.user).filter(code=code).first()
    if station is None:
        return not_found_page(request)
    if request.method == "POST":
        answer_proposal(request, station)
        return HttpResponseRedirect(reverse("station", args=[station.code]), status=303)
    return render(request, "website/station.html", station_dashboard(station, request.user))


ANSWERS = {
    "accept": (proposal_accept, "Accepted"),
    "decline": (proposal_decline, "Declined"),
    "withdraw": (proposal_withdraw, "Withdrew"),
}


def answer_proposal(request, station) -> None:
    """The page's answer to a proposal of `station`, through the same services as the API and
    with the same rules (trades.proposals decides who may answer); the outcome as a message.
    A refusal for want of credits keeps the buyer's figures for the buyer's operators."""
    answer = ANSWERS.get(request.POST.get("answer", ""))
    proposal = (
        proposals_visible_to(request.user)
        .filter(Q(seller=station) | Q(buyer=station))
        .filter(proposal_id=request.POST.get("proposal", ""))
        .first()
    )
    if answer is None or proposal is None:
        messages.error(request, "No such proposal to answer here.")
        return
    service, done = answer
    try:
        answered = service(proposal=proposal, actor=request.user)
    except DomainError as exc:
        messages.error(request, f"{proposal.proposal_id}: {as_told_to(request.user, exc)}")
        return
    except ValidationError as exc:
        messages.error(request, f"{proposal.proposal_id}: {' '.join(exc.messages)}")
        return
    if answered.trade_id is not None:
        messages.success(
            request,
            f"{done} {answered.proposal_id}: trade {answered.trade.transaction_id} is placed.",
        )
    else:
        messages.success(request, f"{done} {answered.proposal_id}.")
