"""Admin scoping for station operators: the API's read rule (inventory.access.visible_to)."""

from __future__ import annotations

from .access import visible_to


class StationScopedAdminMixin:
    """Limit an admin's rows to those touching a station the user operates.

    `station_lookups` names the paths from the model to its stations; a row is visible when
    any of them is one of the user's stations. Superusers and dispatch staff see everything.
    Rows outside the scope are simply not found, so they can be neither seen nor changed.
    """

    station_lookups: tuple[str, ...] = ()

    def get_queryset(self, request):
        return visible_to(super().get_queryset(request), request.user, *self.station_lookups)
