"""JSON answers for the API's 404 and 500 in the shared error shape; HTML elsewhere."""

from django.http import JsonResponse
from django.views.defaults import page_not_found, server_error


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
