"""The outbox's content type (and so its permissions) carried over from the app label
`tradenet`, which this app had while it was part of the project package.

On a database migrated before the move, Django would otherwise make a second content type for
`core.outboxevent` and leave the old one, with any permission granted on it, stale. On a new
database there is nothing to carry.
"""

from django.db import migrations


def carry_over(apps, schema_editor):
    content_types = apps.get_model("contenttypes", "ContentType")
    content_types.objects.using(schema_editor.connection.alias).filter(
        app_label="tradenet"
    ).exclude(model__in=content_types.objects.filter(app_label="core").values("model")).update(
        app_label="core"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0003_no_parallel_queries"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(carry_over, migrations.RunPython.noop)]
