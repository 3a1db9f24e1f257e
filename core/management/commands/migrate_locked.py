from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

# Any constant shared by every replica of this project.
MIGRATION_LOCK = 7_362_201


class Command(BaseCommand):
    help = (
        "migrate, holding a PostgreSQL advisory lock: replicas that start together apply the "
        "migrations one at a time instead of racing."
    )

    def handle(self, *args, **options):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK])
            try:
                call_command("migrate", interactive=False, verbosity=options["verbosity"])
            finally:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK])
