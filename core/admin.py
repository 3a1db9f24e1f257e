"""Admin pieces every app's admin shares (the station scoping lives with the stations, in
inventory.admin_scoping)."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponseRedirect

from core.errors import DomainError
from core.replica import reads_from_replica


class ReplicaListsAdminMixin:
    """The change list and the change page read from the replica when it is fresh enough for
    the caller (core/replica.py); their forms' writes stay on the primary."""

    @reads_from_replica
    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, extra_context)

    @reads_from_replica
    def change_view(self, request, object_id, form_url="", extra_context=None):
        return super().change_view(request, object_id, form_url, extra_context)


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
