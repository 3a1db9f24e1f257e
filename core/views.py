"""Error answers: JSON in the shared error shape under /api/, plain pages elsewhere.

Under /api/ every answer is JSON, with DEBUG on too: Django's debug pages (a 404 listing the
URL patterns, a 500 with a traceback) are HTML, and would also show a client how the project
is put together. `api_not_found` is the API's last route, so an unknown path under /api/ never
reaches Django's 404 handling; `ApiExceptionsAsJsonMiddleware` answers what escapes a view.
"""

import logging

from django.http import JsonResponse
from django.shortcuts import render
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import page_not_found, server_error

logger = logging.getLogger("django.request")

NOT_FOUND = {"message": "Not found.", "code": "not_found"}
SERVER_ERROR = {"message": "Internal server error; it has been logged.", "code": "server_error"}


def is_api(request) -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


@csrf_exempt  # a POST to no route is a 404, whatever its cookies
def api_not_found(request, *args, **kwargs):
    return JsonResponse(NOT_FOUND, status=404)


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: the error shape under /api/, Django's page elsewhere."""
    if is_api(request):
        return JsonResponse(
            {"message": f"CSRF check failed: {reason}", "code": "csrf_failed"}, status=403
        )
    return django_csrf_failure(request, reason)


def not_found_page(request):
    """The plain 404 page, with DEBUG on too: for a record the signed-in user may not see, it
    reads exactly as for one that does not exist (and never lists the URL patterns)."""
    return render(request, "404.html", status=404)


def not_found(request, exception=None):
    if is_api(request):
        return api_not_found(request)
    return page_not_found(request, exception)


def server_failure(request):
    if is_api(request):
        return JsonResponse(SERVER_ERROR, status=500)
    return server_error(request)
