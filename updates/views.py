from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from inventory.access import stations_for


@login_required
def live_page(request):
    """A live feed of trades, cargo and inventory changes for the signed-in operator."""
    stations = stations_for(request.user).only("code", "name")[:500]
    return render(request, "updates/live.html", {"stations": stations})
