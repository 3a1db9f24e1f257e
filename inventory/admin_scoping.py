"""Admin scoping for station operators: one mixin, one rule (inventory.access)."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.db.models import Q
from django.http import HttpResponseRedirect

from tradenet.errors import DomainError

from .access import acts_for_all_stations, operated_station_ids


class StationScopedAdminMixin:
    """Limit an admin's rows to those touching a station the user operates.

    `station_lookups` names the paths from the model to its stations; a row is visible when
    any of them is one of the user's stations. Superusers and dispatch staff see everything.
    Rows outside the scope are simply not found, so they can be neither seen nor changed.
    """

    station_lookups: tuple[str, ...] = ()

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if acts_for_all_stations(request.user):
            return queryset
        station_ids = operated_station_ids(request.user)
        condition = Q()
        for lookup in self.station_lookups:
            condition |= Q(**{f"{lookup}__in": station_ids})
        return queryset.filter(condition)


class ReadOnlyAdminMixin:
    """For append-only records (the ledger, tracking history): viewable, never edited."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DomainErrorMessagesMixin:
    """Show a business conflict raised by a service as an admin error, with the save rolled back.

    Forms pre-check what they can; the services re-check under row locks, so a race lost since
    the form was validated surfaces here.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            with transaction.atomic():
                return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
