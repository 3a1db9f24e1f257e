"""The landing page, and JSON answers for the API's 404 and 500 in the shared error shape."""

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views.defaults import page_not_found, server_error

from inventory.access import acts_for_all_stations


@login_required
def home(request):
    """Where the admin's "view site" and a bare URL lead: the live feed, the API docs, the
    admin. Anonymous callers are sent to sign in first."""
    return render(
        request, "tradenet/home.html", {"all_stations": acts_for_all_stations(request.user)}
    )


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse({"message": "Not found.", "code": "not_found"}, status=404)
    return page_not_found(request, exception)


def server_failure(request):
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"message": "Internal server error; it has been logged.", "code": "server_error"},
            status=500,
        )
    return server_error(request)
