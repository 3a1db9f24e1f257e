from __future__ import annotations

from django.http import JsonResponse

from tradenet.api.parsers import UNSTORABLE


class RejectUnstorableTextMiddleware:
    """A NUL character in a URL or query string would reach PostgreSQL through a lookup or a
    filter and fail there as a 500; refuse it up front as a 400."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if UNSTORABLE.search(request.path) or any(
            UNSTORABLE.search(key) or UNSTORABLE.search(value)
            for key, values in request.GET.lists()
            for value in values
        ):
            return JsonResponse(
                {
                    "message": "The URL may not contain NUL characters.",
                    "code": "invalid",
                },
                status=400,
            )
        return self.get_response(request)
