"""Django's authentication middleware, keeping the user it looked up.

A module of its own: `core.middleware` is imported while logging is configured, before
the auth app's models may be."""

from __future__ import annotations

from django.contrib import auth
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthentication
from django.utils.functional import SimpleLazyObject


class AuthenticationMiddleware(DjangoAuthentication):
    """Django's, except that the request keeps its user once something has looked it up
    (`request.looked_up_user`), so the access log can name the user without a query of its own
    and without reading the lazy object's private state."""

    def process_request(self, request):
        super().process_request(request)

        def look_up():
            request.looked_up_user = auth.get_user(request)
            return request.looked_up_user

        request.user = SimpleLazyObject(look_up)
