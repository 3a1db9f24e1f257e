from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from inventory.access import acts_for_all_stations, stations_for


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
