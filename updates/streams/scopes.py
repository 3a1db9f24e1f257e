"""Who may listen to what, and which events a stream carries.

A stream's scope is decided on the server from the URL and the caller; nothing in the query
string can widen it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user
from django.http import HttpRequest
from rest_framework.exceptions import AuthenticationFailed

from cargo.access import may_read_shipment
from cargo.models import Cargo
from inventory.access import may_act_for, receivable_stations, receivable_stations_of
from inventory.models import Station


@dataclass(frozen=True)
class Credential:
    """What a stream was opened with, to check later that it still holds."""

    user_id: int
    kind: str  # "token" (knox digest) or "session" (session key)
    key: str


class StreamRefused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class StreamScope:
    everything: bool = False
    stations: frozenset[str] = frozenset()
    shipment_id: str | None = None

    def allows(self, stations: frozenset[str], shipment_id: str | None) -> bool:
        if self.shipment_id is not None:
            return shipment_id == self.shipment_id
        return self.everything or not self.stations.isdisjoint(stations)


def authenticate(authorization: str | None, session_key: str | None):
    """The signed-in user, from `Authorization: Token ...` or the session cookie; or None."""
    if authorization:
        from core.api.authentication import TokenAuthentication

        parts = authorization.split()
        if len(parts) != 2 or parts[0].lower() != "token":
            return None
        try:
            user, token = TokenAuthentication().authenticate_credentials(parts[1].encode("latin-1"))
        except (AuthenticationFailed, UnicodeError):
            return None
        user.stream_credential = Credential(user.pk, "token", token.digest)
        return user
    if session_key:
        from importlib import import_module

        engine = import_module(settings.SESSION_ENGINE)
        request = HttpRequest()
        request.session = engine.SessionStore(session_key)
        user = get_user(request)
        if not user.is_authenticated:
            return None
        user.stream_credential = Credential(user.pk, "session", session_key)
        return user
    return None


def still_valid(credentials: set[Credential]) -> set[Credential]:
    """Those of `credentials` that would still sign their user in: the token neither revoked
    nor expired, the session not ended, the user active. Three queries, however many."""
    from importlib import import_module

    from django.contrib.auth import get_user_model
    from django.db.models import Q
    from django.utils import timezone
    from knox.models import AuthToken

    now = timezone.now()
    active = set(
        get_user_model()
        .objects.filter(pk__in={c.user_id for c in credentials}, is_active=True)
        .values_list("pk", flat=True)
    )
    digests = {c.key for c in credentials if c.kind == "token"}
    live_tokens = set(
        AuthToken.objects.filter(digest__in=digests)
        .filter(Q(expiry__isnull=True) | Q(expiry__gt=now))
        .values_list("digest", flat=True)
    )
    store = import_module(settings.SESSION_ENGINE).SessionStore
    live_sessions = {c.key for c in credentials if c.kind == "session" and store().exists(c.key)}
    return {
        c
        for c in credentials
        if c.user_id in active and c.key in (live_tokens if c.kind == "token" else live_sessions)
    }


def beyond_access(opened: set[tuple[int, StreamScope]]) -> set[tuple[int, StreamScope]]:
    """Those of `opened` (user id, scope of a stream of theirs) that the user may not receive
    now: a station they no longer operate, everything when no longer dispatch staff, a
    shipment neither end of which they operate. Two queries, three with shipment streams."""
    receivable = receivable_stations_of(uid for uid, _ in opened)
    shipments = {scope.shipment_id for _, scope in opened if scope.shipment_id is not None}
    ends = {
        shipment_id: frozenset(codes)
        for shipment_id, *codes in Cargo.objects.filter(shipment_id__in=shipments).values_list(
            "shipment_id", "origin__code", "destination__code"
        )
    }

    def allowed(user_id: int, scope: StreamScope) -> bool:
        codes = receivable.get(user_id, frozenset())
        if codes is None:  # dispatch staff
            return True
        if scope.shipment_id is not None:
            return not codes.isdisjoint(ends.get(scope.shipment_id, ()))
        return not scope.everything and scope.stations <= codes

    return {(uid, scope) for uid, scope in opened if not allowed(uid, scope)}


def reopen(credential: Credential, kind: str, key: str | None):
    """For a held stream's next request: its user and scope again if `credential` still signs
    them in, else None."""
    from django.contrib.auth import get_user_model

    if not still_valid({credential}):
        return None
    user = get_user_model().objects.get(pk=credential.user_id)
    user.stream_credential = credential
    return user, resolve(user, kind, key)


def resolve(user, kind: str, key: str | None) -> StreamScope:
    if kind == "all":
        codes = receivable_stations(user)
        return StreamScope(everything=True) if codes is None else StreamScope(stations=codes)
    if kind == "station":
        station = Station.objects.filter(code=key).first()
        if station is None:
            raise StreamRefused(404, "not_found", f"No station {key}.")
        if not may_act_for(user, station):
            raise StreamRefused(403, "permission_denied", f"You do not operate {key}.")
        return StreamScope(stations=frozenset([station.code]))
    if kind == "shipment":
        shipment = Cargo.objects.filter(shipment_id=key).first()
        if shipment is None:
            raise StreamRefused(404, "not_found", f"No shipment {key}.")
        if not may_read_shipment(user, shipment):
            raise StreamRefused(403, "permission_denied", f"You operate neither end of {key}.")
        return StreamScope(shipment_id=shipment.shipment_id)
    raise StreamRefused(404, "not_found", "No such stream.")
