"""Who may act for which station: the one place the rule lives (API, admin and streams use it).

Superusers, and users granted `inventory.act_for_all_stations` (dispatch staff), may act for every
station. Everyone else, staff operators included, acts only for the stations they operate.
"""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Station

ALL_STATIONS_PERMISSION = "inventory.act_for_all_stations"


def acts_for_all_stations(user) -> bool:
    if not user or not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or user.has_perm(ALL_STATIONS_PERMISSION)


def operated_station_ids(user) -> frozenset[int]:
    """Ids of the stations `user` operates, cached on the user object for the request."""
    if not user or not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_operated_station_ids", None)
    if cached is None:
        cached = frozenset(user.operated_stations.values_list("pk", flat=True))
        user._operated_station_ids = cached
    return cached


def may_act_for(user, station: Station | int | None) -> bool:
    if station is None:
        return False
    if acts_for_all_stations(user):
        return True
    station_id = station if isinstance(station, int) else station.pk
    return station_id in operated_station_ids(user)


def stations_for(user) -> QuerySet[Station]:
    """The stations whose records `user` may see and edit in the admin."""
    if acts_for_all_stations(user):
        return Station.objects.all()
    return Station.objects.filter(pk__in=operated_station_ids(user))
