from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render

from inventory.access import acts_for_all_stations, stations_for
from tradenet.views import not_found_page

from .galaxy import map_state, station_dashboard


@login_required
def live_page(request):
    """A live feed of trades, cargo and inventory changes for the signed-in operator."""
    stations = stations_for(request.user).only("code", "name")[:500]
    return render(request, "updates/live.html", {"stations": stations})


@login_required
def home(request):
    """Where the admin's "view site" and a bare URL lead: the live feed, the API docs, the
    admin. Anonymous callers are sent to sign in first."""
    return render(
        request, "updates/home.html", {"all_stations": acts_for_all_stations(request.user)}
    )


@login_required
def galaxy_map(request):
    """The galaxy map: every station, the caller's shipments on their way, live."""
    return render(request, "updates/map.html", {"state": map_state(request.user)})


@login_required
def galaxy_map_data(request):
    """The map's state as JSON: what the page starts from, and reloads after a stream reset."""
    return JsonResponse(map_state(request.user))


@login_required
def station_page(request, code: str):
    """A station's dashboard, for its operators and dispatch staff (others: 404)."""
    station = stations_for(request.user).filter(code=code).first()
    if station is None:
        return not_found_page(request)
    return render(request, "updates/station.html", station_dashboard(station, request.user))
