from __future__ import annotations

import logging

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from whitenoise.middleware import WhiteNoiseMiddleware

from core.dbconn import check_pool
from core.text import UNSTORABLE
from core.views import SERVER_ERROR, is_api

logger = logging.getLogger(__name__)


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
        # In the API's error shape for a 400 (core/api/errors.py): `errors` names the query
        # parameter; a path or a parameter's name is the request as a whole.
        where = None
        if UNSTORABLE.search(request.path):
            where = "non_field_errors"
        for key, values in request.GET.lists():
            if where is None and UNSTORABLE.search(key):
                where = "non_field_errors"
            elif where is None and any(UNSTORABLE.search(value) for value in values):
                where = key
        if where is None:
            return None
        problem = "May not contain NUL characters."
        message = "The URL may not contain NUL characters."
        if where != "non_field_errors":
            message = f"{where}: {problem}"
        return JsonResponse(
            {"message": message, "code": "invalid", "errors": {where: [problem]}}, status=400
        )


class StaticFilesMiddleware(SyncAndAsyncMiddleware):
    """WhiteNoise, which is sync-only, behind a middleware that is both: only static file
    requests reach it; everything else passes straight on."""

    def __init__(self, get_response):
        super().__init__(get_response)
        self.whitenoise = WhiteNoiseMiddleware(get_response=lambda request: None)

    def intercept(self, request):
        return self.whitenoise(request)


class DatabaseUnavailableMiddleware(BothModesMiddleware):
    """Pages (the admin, the landing and live pages) while PostgreSQL is away: 503 with
    Retry-After and a page that says so, not a 500 that pages someone. The API answers the same
    in its own error shape (core.api.errors)."""

    def __call__(self, request):
        return self.get_response(request)  # a coroutine in async mode, awaited by the caller

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning("database unavailable: %s", exception)
        check_pool()
        page = render_to_string("core/503.html", request=None)
        return HttpResponse(page, status=503, headers={"Retry-After": "5"})


class ApiExceptionsAsJsonMiddleware(BothModesMiddleware):
    """An exception that escapes a view under /api/ (DRF's handler answers all it knows) is a
    JSON 500 in the error shape, logged with its traceback, with DEBUG on too."""

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_api(request) or isinstance(exception, OperationalError | InterfaceError):
            return None  # pages have Django's handling; DatabaseUnavailableMiddleware the 503
        logger.error(
            "Internal Server Error: %s", request.path, exc_info=exception,
            extra={"status_code": 500, "request": request},
        )  # fmt: skip
        return JsonResponse(SERVER_ERROR, status=500)
