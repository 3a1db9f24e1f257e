from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from inventory.models import Station
from inventory.services import operator_grant


class Command(BaseCommand):
    help = "Create a station operator (staff, not superuser) if needed and grant them stations."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("station_codes", nargs="+", metavar="STATION_CODE")
        parser.add_argument("--password", help="Set this password (generated for a new user).")

    def handle(self, *args, username: str, station_codes: list[str], password, **options):
        stations = list(Station.objects.filter(code__in=station_codes))
        unknown = sorted(set(station_codes) - {s.code for s in stations})
        if unknown:
            raise CommandError(
                f"Unknown station code(s): {', '.join(unknown)}. "
                "List the codes with the admin or run seed_stations first."
            )
        User = get_user_model()
        with transaction.atomic():
            user, created = User.objects.get_or_create(username=username)
            generated = None
            if password:
                user.set_password(password)
            elif created:
                generated = secrets.token_urlsafe(12)
                user.set_password(generated)
            user.save()
            operator_grant(user=user, stations=stations)
        codes = ", ".join(sorted(s.code for s in stations))
        self.stdout.write(
            f"{'Created' if created else 'Updated'} operator {username}; operates: {codes}."
        )
        if generated:
            self.stdout.write(f"Generated password (shown once): {generated}")
