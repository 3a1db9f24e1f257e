from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import JsonResponse
from whitenoise.middleware import WhiteNoiseMiddleware

from tradenet.text import UNSTORABLE


class BothModesMiddleware:
    """Base for middleware that runs natively in both modes: under ASGI, a sync-only middleware
    costs every request a hop to a thread."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)


class SyncAndAsyncMiddleware(BothModesMiddleware):
    """A middleware that may answer instead of the view (`intercept`), in both modes."""

    def __call__(self, request):
        if self.async_mode:
            return self._acall(request)
        return self.intercept(request) or self.get_response(request)

    async def _acall(self, request):
        return self.intercept(request) or await self.get_response(request)

    def intercept(self, request):
        """A response to answer with instead of the view, or None."""
        raise NotImplementedError


class RejectUnstorableTextMiddleware(SyncAndAsyncMiddleware):
    """A NUL character in a URL or query string would reach PostgreSQL through a lookup or a
    filter and fail there as a 500; refuse it up front as a 400."""

    def intercept(self, request):
        if UNSTORABLE.search(request.path) or any(
            UNSTORABLE.search(key) or UNSTORABLE.search(value)
            for key, values in request.GET.lists()
            for value in values
        ):
            return JsonResponse(
                {"message": "The URL may not contain NUL characters.", "code": "invalid"},
                status=400,
            )
        return None


class StaticFilesMiddleware(SyncAndAsyncMiddleware):
    """WhiteNoise, which is sync-only, behind a middleware that is both: only static file
    requests reach it; everything else passes straight on."""

    def __init__(self, get_response):
        super().__init__(get_response)
        self.whitenoise = WhiteNoiseMiddleware(get_response=lambda request: None)

    def intercept(self, request):
        return self.whitenoise(request)
