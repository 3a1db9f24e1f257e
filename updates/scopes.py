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

from cargo.models import Cargo
from inventory.access import acts_for_all_stations, may_act_for
from inventory.models import Station


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
        from tradenet.api.authentication import TokenAuthentication

        parts = authorization.split()
        if len(parts) != 2 or parts[0].lower() != "token":
            return None
        try:
            user, _ = TokenAuthentication().authenticate_credentials(parts[1].encode("latin-1"))
        except (AuthenticationFailed, UnicodeError):
            return None
        return user
    if session_key:
        from importlib import import_module

        engine = import_module(settings.SESSION_ENGINE)
        request = HttpRequest()
        request.session = engine.SessionStore(session_key)
        user = get_user(request)
        return user if user.is_authenticated else None
    return None


def resolve(user, kind: str, key: str | None) -> StreamScope:
    if kind == "all":
        if acts_for_all_stations(user):
            return StreamScope(everything=True)
        codes = user.operated_stations.values_list("code", flat=True)
        return StreamScope(stations=frozenset(codes))
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
        if not (
            may_act_for(user, shipment.origin_id) or may_act_for(user, shipment.destination_id)
        ):
            raise StreamRefused(403, "permission_denied", f"You operate neither end of {key}.")
        return StreamScope(shipment_id=shipment.shipment_id)
    raise StreamRefused(404, "not_found", "No such stream.")
