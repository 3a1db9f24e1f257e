"""Who may act for which station, and whose events one may receive: the one place these rules
live (the API, the admin, the streams, Pushpin's channels and webhooks use them).

Superusers, and users granted `inventory.act_for_all_stations` (dispatch staff), may act for every
station. Everyone else, staff operators included, acts only for the stations they operate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.postgres.expressions import ArraySubquery
from django.db import connections, router
from django.db.models import Exists, OuterRef, Q, QuerySet

from .models import Station

ALL_STATIONS_PERMISSION = "inventory.act_for_all_stations"


@dataclass(frozen=True)
class StationAccess:
    all_stations: bool
    station_ids: frozenset[int]


# A user id no user has: where the statement below takes the user's id among its parameters.
USER_PLACEHOLDER = -2_107_030_405  # within any integer id column


@cache
def _access_statement() -> tuple[str, tuple]:
    """The ORM's statement for what a user may act for, composed once per process: composing it
    (two EXISTS and an ARRAY subquery) was nearly a third of a worker's time answering an
    operator's trades (docs/performance.md#consent). Run with each user's id in place of
    USER_PLACEHOLDER."""
    app_label, codename = ALL_STATIONS_PERMISSION.split(".")
    permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    operated = Station.operators.through.objects.filter(user_id=OuterRef("pk"))
    queryset = (
        get_user_model()
        .objects.filter(pk=USER_PLACEHOLDER)
        .annotate(
            direct=Exists(permission.filter(user=OuterRef("pk"))),
            via_group=Exists(permission.filter(group__user=OuterRef("pk"))),
            station_ids=ArraySubquery(operated.values("station_id")),
        )
        .values_list("direct", "via_group", "station_ids")
    )
    return queryset.query.sql_with_params()


def station_access(user) -> StationAccess:
    """What `user` may act for, read in one query and cached on the user object (the request's).

    Dispatch staff hold ALL_STATIONS_PERMISSION directly or through a group, as Django's
    ModelBackend.has_perm would find it (which takes two queries, and a third for stations).
    """
    if not user or not user.is_authenticated or not user.is_active:
        return StationAccess(False, frozenset())
    cached = getattr(user, "_station_access", None)
    if cached is None:
        sql, params = _access_statement()
        params = tuple(user.pk if value == USER_PLACEHOLDER else value for value in params)
        alias = router.db_for_read(get_user_model())
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, params)
            direct, via_group, station_ids = cursor.fetchone()
        cached = StationAccess(direct or via_group, frozenset(station_ids))
        user._station_access = cached
    return cached


def acts_for_all_stations(user) -> bool:
    if not user or not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or station_access(user).all_stations


def operated_station_ids(user) -> frozenset[int]:
    """Ids of the stations `user` operates, cached on the user object for the request."""
    return station_access(user).station_ids


def may_act_for(user, station: Station | int | None) -> bool:
    if station is None:
        return False
    if acts_for_all_stations(user):
        return True
    station_id = station if isinstance(station, int) else station.pk
    return station_id in operated_station_ids(user)


def visible_to(queryset: QuerySet, user, *station_fields: str) -> QuerySet:
    """`queryset` narrowed to the rows whose `station_fields` (e.g. "seller_id", "buyer_id";
    "pk" for stations themselves) name a station `user` operates: the object-level read rule
    of the API. Dispatch staff see every row; filters applied later can only narrow it."""
    if acts_for_all_stations(user):
        return queryset
    ids = operated_station_ids(user)
    if not ids:
        return queryset.none()
    condition = Q()
    for field in station_fields:
        condition |= Q(**{f"{field}__in": ids})
    return queryset.filter(condition)


def stations_for(user) -> QuerySet[Station]:
    """The stations whose records `user` may see and edit in the admin."""
    if acts_for_all_stations(user):
        return Station.objects.all()
    return Station.objects.filter(pk__in=operated_station_ids(user))


def receivable_stations(user, named: Iterable[str] = ()) -> frozenset[str] | None:
    """The codes of the stations whose events `user` may receive, narrowed to `named` when any
    are named: None means every station (dispatch staff, naming none). An inactive user
    receives nothing, whatever they were. Streams, Pushpin's channels and webhooks all ask
    this, for the same answer."""
    named = frozenset(named)
    if not user or not user.is_authenticated or not user.is_active:
        return frozenset()
    if acts_for_all_stations(user):
        return named or None
    operated = frozenset(
        Station.objects.filter(pk__in=operated_station_ids(user)).values_list("code", flat=True)
    )
    return operated & named if named else operated


def operators_by_station(codes: Iterable[str]) -> dict[str, set[int]]:
    """{station code: ids of its operators}: who, besides dispatch staff, receives its events
    (the other way round of `receivable_stations`, for many events at once)."""
    operators: dict[str, set[int]] = {}
    through = Station.operators.through.objects.filter(
        station__code__in=set(codes), user__is_active=True
    )
    for code, user_id in through.values_list("station__code", "user_id"):
        operators.setdefault(code, set()).add(user_id)
    return operators


def receivable_stations_of(user_ids: Iterable[int]) -> dict[int, frozenset[str] | None]:
    """{user id: `receivable_stations(user)`} for many users in two queries, read afresh (no
    cached StationAccess): what the streams' periodic re-check and the access-change receivers
    compare open streams with. A user who no longer exists receives nothing."""
    user_ids = set(user_ids)
    if not user_ids:
        return {}
    app_label, codename = ALL_STATIONS_PERMISSION.split(".")
    permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    users = (
        get_user_model()
        .objects.filter(pk__in=user_ids)
        .annotate(
            direct=Exists(permission.filter(user=OuterRef("pk"))),
            via_group=Exists(permission.filter(group__user=OuterRef("pk"))),
        )
        .values_list("pk", "is_active", "is_superuser", "direct", "via_group")
    )
    receivable: dict[int, frozenset[str] | None] = dict.fromkeys(user_ids, frozenset())
    operators = []
    for pk, is_active, is_superuser, direct, via_group in users:
        if is_active and (is_superuser or direct or via_group):
            receivable[pk] = None
        elif is_active:
            operators.append(pk)
    operated: dict[int, set[str]] = {}
    through = Station.operators.through.objects.filter(user_id__in=operators)
    for user_id, code in through.values_list("user_id", "station__code"):
        operated.setdefault(user_id, set()).add(code)
    for pk in operators:
        receivable[pk] = frozenset(operated.get(pk, ()))
    return receivable
