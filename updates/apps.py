from django.apps import AppConfig


class UpdatesConfig(AppConfig):
    """Delivery of committed domain events, one package per job (docs/architecture.md): the
    event log (`log`), the streams (`streams`), events for other systems (`integrations`);
    their background workers listed in `delivery` (served by tradenet.routing)."""

    name = "updates"
    verbose_name = "Live updates"

    def ready(self) -> None:
        from core.observability import register_database_figure
        from updates.integrations.exporters import exported_everywhere, lag_figures
        from updates.log import eventstream, relay
        from updates.streams import grip_publish

        eventstream.configure()
        # The log knows nothing above it: Pushpin hears of each batch the relay delivers, and
        # the relay keeps what an exporter has not carried yet.
        if grip_publish.publish_if_enabled not in relay.PUBLISHERS:
            relay.PUBLISHERS.append(grip_publish.publish_if_enabled)
        if exported_everywhere not in relay.KEEP_AFTER:
            relay.KEEP_AFTER.append(exported_everywhere)

        _end_streams_when_access_narrows()
        # For each exporter of the deployment (the webhooks' fan-out, and the feed when set).
        register_database_figure(
            "tradenet_export_lag_events",
            "Committed events an exporter has not carried yet",
            "exporter",
            lag_figures(0),
        )
        register_database_figure(
            "tradenet_export_lag_seconds",
            "Age of the oldest event an exporter has not carried yet",
            "exporter",
            lag_figures(1),
        )


def _end_streams_when_access_narrows() -> None:
    """Revoked credentials and narrowed access end their streams everywhere, in the log's order
    (updates/streams/revocation.py): the signals that say so, connected."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.contrib.auth.signals import user_logged_out
    from django.db.models.signals import (
        m2m_changed,
        post_delete,
        post_save,
        pre_delete,
        pre_save,
    )
    from knox.models import AuthToken

    from inventory.models import Station
    from updates.streams import revocation

    user_model = get_user_model()
    post_delete.connect(
        revocation.revoke_streams_of_deleted_token,
        sender=AuthToken,
        dispatch_uid="revoke_streams_of_deleted_token",
    )
    user_logged_out.connect(
        revocation.revoke_streams_of_ended_session,
        dispatch_uid="revoke_streams_of_ended_session",
    )
    pre_save.connect(
        revocation.note_dispatch_before_user_save,
        sender=user_model,
        dispatch_uid="note_dispatch_before_user_save",
    )
    post_save.connect(
        revocation.revoke_streams_of_changed_user,
        sender=user_model,
        dispatch_uid="revoke_streams_of_changed_user",
    )
    m2m_changed.connect(
        revocation.revoke_streams_of_removed_operators,
        sender=Station.operators.through,
        dispatch_uid="revoke_streams_of_removed_operators",
    )
    for relation in (user_model.groups, user_model.user_permissions, Group.permissions):
        m2m_changed.connect(
            revocation.revoke_streams_of_lost_dispatch,
            sender=relation.through,
            dispatch_uid=f"revoke_streams_of_lost_dispatch:{relation.through._meta.label}",
        )
    for signal in (pre_delete, post_delete):
        signal.connect(
            revocation.revoke_streams_of_deleted_group,
            sender=Group,
            dispatch_uid="revoke_streams_of_deleted_group",
        )
