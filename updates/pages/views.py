from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render

from inventory.access import acts_for_all_stations, stations_for
from tradenet.replica import reads_from_replica
from tradenet.views import not_found_page
from updates.pages.galaxy import live_feed_context, map_state, station_dashboard

HOME_STATIONS = 60


@login_required
def live_page(request):
    """A live feed of trades, shipments and stock of the signed-in user's stations. It opens
    with the recent history (the stream replays it, as it replays a reconnection, filtered to
    what the user may see) and speaks in station and commodity names."""
    return render(request, "updates/live.html", live_feed_context(request.user))


@login_required
def home(request):
    """Where the admin's "view site" and a bare URL lead: the pages, and the user's stations
    with a link to each one's page. Anonymous callers are sent to sign in first."""
    stations = stations_for(request.user).order_by("name").only("code", "name", "kind")
    listed = list(stations[: HOME_STATIONS + 1])
    return render(
        request,
        "updates/home.html",
        {
            "all_stations": acts_for_all_stations(request.user),
            "stations": listed[:HOME_STATIONS],
            "more_stations": stations.count() - HOME_STATIONS if len(listed) > HOME_STATIONS else 0,
        },
    )


@login_required
def galaxy_map(request):
    """The galaxy map: every station, the caller's shipments on their way, live."""
    return render(request, "updates/map.html", {"state": map_state(request.user)})


@login_required
@reads_from_replica
def galaxy_map_data(request):
    """The map's state as JSON: what the page starts from, and reloads after a stream reset."""
    return JsonResponse(map_state(request.user))


@login_required
@reads_from_replica
def station_page(request, code: str):
    """A station's dashboard, for its operators and dispatch staff (others: 404)."""
    station = stations_for(request.user).filter(code=code).first()
    if station is None:
        return not_found_page(request)
    return render(request, "updates/station.html", station_dashboard(station, request.user))
