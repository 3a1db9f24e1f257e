"""Token authentication: obtain, revoke one, revoke all. Tokens are stored as digests (knox)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from knox.models import AuthToken
from knox.settings import knox_settings
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.limits import max_length

from .errors import error_response
from .serializers import StrictInputSerializer
from .throttling import ScopedRateThrottle


class CredentialsSerializer(StrictInputSerializer):
    username = serializers.CharField(max_length=max_length(get_user_model(), "username"))
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


TokenSerializer = inline_serializer(
    "Token",
    fields={
        "token": serializers.CharField(),
        "expiry": serializers.DateTimeField(allow_null=True),
        "username": serializers.CharField(),
    },
)


class ObtainTokenView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(
        summary="Exchange a username and password for an API token",
        request=CredentialsSerializer,
        responses={
            200: TokenSerializer,
            403: OpenApiResponse(
                description="The user holds the most tokens one may (`too_many_tokens`): "
                "revoke one or wait until one expires."
            ),
        },
        auth=[],
    )
    def post(self, request):
        credentials = CredentialsSerializer(data=request.data)
        credentials.is_valid(raise_exception=True)
        user = authenticate(request=request, **credentials.validated_data)
        if getattr(request, "axes_locked_out", False):
            cooloff = int(settings.AXES_COOLOFF_TIME.total_seconds())
            response = error_response(
                429,
                "Too many failed sign-ins for this username or from this address; "
                f"try again in {cooloff // 60} minutes.",
                "too_many_failed_sign_ins",
                detail={"retry_after_seconds": cooloff},
            )
            response["Retry-After"] = str(cooloff)
            return response
        if user is None or not user.is_active:
            # 400 with `invalid_grant`, as an OAuth 2 token endpoint answers wrong resource
            # owner credentials (RFC 6749, 5.2) and DRF's own token view answers 400; without
            # saying which of the two was wrong.
            return error_response(400, "Wrong username or password.", "invalid_grant")
        with transaction.atomic():
            # The user's row is locked while their tokens are counted and one is made, so
            # that sign-ins at the same moment cannot each find room for the last one.
            get_user_model().objects.select_for_update().filter(pk=user.pk).exists()
            AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
            refusal = token_limit_reached(user)
            if refusal is not None:
                return refusal
            instance, token = AuthToken.objects.create(user=user)
        return Response(
            {"token": token, "expiry": instance.expiry, "username": user.get_username()},
            status=status.HTTP_200_OK,
        )


def token_limit_reached(user) -> Response | None:
    """403 when the user holds knox's TOKEN_LIMIT_PER_USER unexpired tokens already, as knox's
    own LoginView answers (this view replaces it, and knox enforces the limit nowhere else)."""
    limit = knox_settings.TOKEN_LIMIT_PER_USER
    if limit is None:
        return None
    live = AuthToken.objects.filter(user=user).filter(
        Q(expiry__isnull=True) | Q(expiry__gte=timezone.now())
    )
    if live.count() < limit:
        return None
    next_expiry = live.exclude(expiry__isnull=True).aggregate(Min("expiry"))["expiry__min"]
    return error_response(
        403,
        f"You hold {limit} API tokens already, the most one user may. Revoke one you no longer "
        "use (POST /api/auth/token/revoke/ or /api/auth/token/revoke-all/ with a token) or "
        "wait until one expires.",
        "too_many_tokens",
        detail={
            "limit": limit,
            "next_expiry": next_expiry.isoformat() if next_expiry is not None else None,
        },
    )


class RevokeTokenView(APIView):
    @extend_schema(
        summary="Revoke the token this request is signed with", request=None, responses={204: None}
    )
    def post(self, request):
        if isinstance(request.auth, AuthToken):
            request.auth.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class RevokeAllTokensView(APIView):
    @extend_schema(
        summary="Revoke every token of the signed-in user", request=None, responses={204: None}
    )
    def post(self, request):
        request.user.auth_token_set.all().delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
