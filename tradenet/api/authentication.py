from __future__ import annotations

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework import exceptions


def client_address(request) -> str | None:
    """The caller's address as the server resolved it (uvicorn applies X-Forwarded-For only
    from the proxies it trusts), for django-axes."""
    return request.META.get("REMOTE_ADDR")


class TokenAuthentication(KnoxTokenAuthentication):
    """knox's token authentication, hardened against tokens that are not text."""

    def authenticate_credentials(self, token: bytes):
        try:
            token.decode("utf-8")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        return super().authenticate_credentials(token)

    def _cleanup_token(self, auth_token) -> bool:
        """Only the presented token's expiry. knox also walks every other token of the user on
        every request (a query each time); expired tokens of a user are deleted instead when
        the user signs in again (ObtainTokenView)."""
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "tradenet.api.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <token>`, from POST /api/auth/token/.",
        }
