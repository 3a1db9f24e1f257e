"""Revoked credentials and narrowed access end their streams on every server, in the log's order.

Each receiver announces revocations (`core.events.revocation`) in the revoking transaction:
a token deleted (revoked, revoked with all the user's others, or expired and cleaned up), a
session ended (sign-out), a user deactivated; and every stream of a user whose access narrowed:
removed from a station's operators, or no longer dispatch staff (the superuser flag cleared,
`inventory.act_for_all_stations` lost directly, with a group, by a group losing it, or by a
group's deletion). The event travels like every other (outbox, relay, every server's hub,
Pushpin), so a hub ends those streams before it hands them anything committed later; the client
reconnects and is given the scope it has now. The periodic re-check
(TRADENET_SSE_REAUTH_SECONDS) stays behind it, for what no signal announces (a session that
expires, a user deleted, a queryset update or SQL): it compares each open stream's credential
and scope with the database. Streams held by Pushpin have only the announced revocations.

Access changes that only widen (a station added, a permission granted) end nothing: a stream
opened before them stays as narrow as it was until it reconnects.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models.signals import post_delete, pre_delete

from core import events
from inventory.access import receivable_stations_of
from updates.streams.events import revocation

# Where a pre_ receiver leaves, on the instance saved or whose relation changes, what its post_
# counterpart compares with (one save or manager call sends both, on one thread, in one
# transaction).
BEFORE_SAVE = "_stream_dispatch_before_save"
BEFORE_CHANGE = "_stream_access_before_change"


def revoke_streams_of_deleted_token(sender, instance, **kwargs) -> None:
    with transaction.atomic(savepoint=False):
        events.announce(revocation(user_id=instance.user_id, kind="token", keys=[instance.digest]))


def revoke_streams_of_ended_session(sender, request, user, **kwargs) -> None:
    key = getattr(getattr(request, "session", None), "session_key", None)
    if user is None or not key:
        return
    with transaction.atomic(savepoint=False):
        events.announce(revocation(user_id=user.pk, kind="session", keys=[key]))


def revoke_streams_of_changed_user(sender, instance, created, **kwargs) -> None:
    """A user deactivated, or no longer dispatch staff since their superuser flag was cleared
    (`note_dispatch_before_user_save` saw it set in the database)."""
    was_dispatch = instance.__dict__.pop(BEFORE_SAVE, False)
    if created:
        return
    if instance.is_active and not (
        was_dispatch and receivable_stations_of([instance.pk])[instance.pk] is not None
    ):
        return
    # In the changing transaction when there is one (the admin's); a save in autocommit
    # has committed already, and the revocation follows it at once.
    _revoke([instance.pk])


def note_dispatch_before_user_save(sender, instance, update_fields=None, **kwargs) -> None:
    """Before a save that may clear the superuser flag: whether it is set in the database. Only
    then is the database asked (a sign-in's save of last_login, or a superuser's, is not)."""
    instance.__dict__.pop(BEFORE_SAVE, None)
    if instance.pk is None or instance.is_superuser:
        return
    if update_fields is not None and "is_superuser" not in update_fields:
        return
    users = get_user_model().objects.filter(pk=instance.pk, is_superuser=True, is_active=True)
    if users.exists():
        instance.__dict__[BEFORE_SAVE] = True


def revoke_streams_of_removed_operators(sender, instance, action, reverse, pk_set, **kwargs):
    """Station.operators lost rows (remove, clear, or a set() that removes, from either side):
    the users removed, unless dispatch staff (who receive every station's events anyway)."""
    if action == "pre_clear" and not reverse:
        # Whom station.operators.clear() removes is known only before it.
        instance.__dict__[BEFORE_CHANGE] = set(instance.operators.values_list("pk", flat=True))
        return
    if action == "post_remove":
        removed = {instance.pk} if reverse else set(pk_set)
    elif action == "post_clear":
        removed = {instance.pk} if reverse else instance.__dict__.pop(BEFORE_CHANGE, set())
    else:
        return
    receivable = receivable_stations_of(removed)
    _revoke(user_id for user_id, codes in receivable.items() if codes is not None)


def revoke_streams_of_lost_dispatch(sender, instance, action, reverse, pk_set, **kwargs):
    """A user's groups or permissions, or a group's permissions, lost rows: the users touched
    who were dispatch staff before and are not now (asked before and after the change, so that
    one who keeps the permission another way keeps their streams)."""
    if action in ("pre_remove", "pre_clear"):
        touched = _users_touched(sender, instance, reverse, pk_set)
        receivable = receivable_stations_of(touched)
        instance.__dict__[BEFORE_CHANGE] = {pk for pk, codes in receivable.items() if codes is None}
    elif action in ("post_remove", "post_clear"):
        before = instance.__dict__.pop(BEFORE_CHANGE, set())
        receivable = receivable_stations_of(before)
        _revoke(pk for pk, codes in receivable.items() if codes is not None)


def revoke_streams_of_deleted_group(sender, instance, signal, **kwargs) -> None:
    """A group deleted (its members' rows go with it, and no m2m_changed is sent): its members
    who were dispatch staff before and are not now. Connected to pre_delete and post_delete."""
    if signal is pre_delete:
        members = instance.user_set.values_list("pk", flat=True)
        receivable = receivable_stations_of(members)
        instance.__dict__[BEFORE_CHANGE] = {pk for pk, codes in receivable.items() if codes is None}
    elif signal is post_delete:
        before = instance.__dict__.pop(BEFORE_CHANGE, set())
        receivable = receivable_stations_of(before)
        _revoke(pk for pk, codes in receivable.items() if codes is not None)


def _users_touched(sender, instance, reverse, pk_set) -> set[int]:
    """The users whose permissions a change of User.groups, User.user_permissions or
    Group.permissions (either side) may take away."""
    users = get_user_model().objects
    if sender is Group.permissions.through:
        if not reverse:  # group.permissions: the group's users
            groups = {instance.pk}
        elif pk_set is not None:  # permission.group_set.remove(groups)
            groups = set(pk_set)
        else:
            groups = set(instance.group_set.values_list("pk", flat=True))
        return set(users.filter(groups__in=groups).values_list("pk", flat=True))
    if not reverse:  # user.groups or user.user_permissions
        return {instance.pk}
    if pk_set is not None:  # group.user_set or permission.user_set
        return set(pk_set)
    return set(instance.user_set.values_list("pk", flat=True))


def _revoke(user_ids: Iterable[int]) -> None:
    """Every stream of each of `user_ids` ends (whatever its credential): announced in the
    current transaction, in one write with the operation's other events."""
    user_ids = sorted(set(user_ids))
    if not user_ids:
        return
    with transaction.atomic(savepoint=False), events.batch():
        for user_id in user_ids:
            events.announce(revocation(user_id=user_id))
