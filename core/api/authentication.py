from __future__ import annotations

import binascii
from functools import cache
from hmac import compare_digest

from django.contrib.auth import get_user_model
from django.db import connections, router
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS
from rest_framework import exceptions

KEY_PLACEHOLDER = "\x00token-key\x00"


@cache
def _token_statement() -> tuple[str, tuple, list[str], list[str]]:
    """The ORM's statement for a token key's tokens and their users (composed once), where the
    key sits among its parameters, and the two models' columns in the order it selects them."""
    token_fields = [f.attname for f in get_token_model()._meta.concrete_fields]
    user_fields = [f.attname for f in get_user_model()._meta.concrete_fields]
    queryset = (
        get_token_model()
        .objects.filter(token_key=KEY_PLACEHOLDER)
        .values_list(*token_fields, *(f"user__{name}" for name in user_fields))
    )
    sql, params = queryset.query.sql_with_params()
    return sql, params, token_fields, user_fields


def tokens_with_key(key: str) -> list:
    """The tokens whose key is `key`, each with its user in place (as select_related does)."""
    sql, params, token_fields, user_fields = _token_statement()
    params = tuple(key if value == KEY_PLACEHOLDER else value for value in params)
    alias = router.db_for_read(get_token_model())
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    found = []
    for row in rows:
        token = get_token_model().from_db(alias, token_fields, row[: len(token_fields)])
        token.user = get_user_model().from_db(alias, user_fields, row[len(token_fields) :])
        found.append(token)
    return found


def client_address(request) -> str | None:
    """The caller's address as the server resolved it (uvicorn applies X-Forwarded-For only
    from the proxies it trusts), for django-axes."""
    return request.META.get("REMOTE_ADDR")


class TokenAuthentication(KnoxTokenAuthentication):
    """knox's token authentication, hardened against tokens that are not text, and read with
    one statement composed once per process.

    knox asks the ORM for the token and its user on every request, and composing that query
    (a join) cost more of a worker's time than running it (docs/performance.md). The same
    statement is composed once here, by the ORM, and run with each request's token key: the
    token and its user are still read on every request, so a revoked token or a deactivated
    user is refused on the very next one."""

    def authenticate_credentials(self, token: bytes):
        try:
            text = token.decode("utf-8")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        for auth_token in tokens_with_key(text[: CONSTANTS.TOKEN_KEY_LENGTH]):
            if self._cleanup_token(auth_token):
                continue
            try:
                digest = hash_token(text)
            except (TypeError, binascii.Error):
                raise exceptions.AuthenticationFailed("Invalid token.") from None
            if compare_digest(digest, auth_token.digest):
                return self.validate_user(auth_token)  # knox's AUTO_REFRESH is off (settings)
        raise exceptions.AuthenticationFailed("Invalid token.")

    def _cleanup_token(self, auth_token) -> bool:
        """Only the presented token's expiry. knox also walks every other token of the user on
        every request (a query each time); expired tokens of a user are deleted instead when
        the user signs in again (ObtainTokenView)."""
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "core.api.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <token>`, from POST /api/auth/token/.",
        }
