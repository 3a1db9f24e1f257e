"""Operators already granted keep their group: give it the proposal and agreement permissions now
(new grants get them from inventory.services.OPERATOR_PERMISSIONS)."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

PERMISSIONS = ["view_proposal", "add_agreement", "view_agreement"]


def grant(apps, schema_editor):
    # Permissions are made after migrations by default; these must exist to be granted now.
    create_permissions(global_apps.get_app_config("trades"), apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name="Station operators").first()
    if group is not None:
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="trades", codename__in=PERMISSIONS)
        )


class Migration(migrations.Migration):
    dependencies = [("trades", "0007_consent"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
