from django.conf import settings
from django.core.management.base import BaseCommand

from trades.idempotency import purge_expired


class Command(BaseCommand):
    help = (
        "Delete Idempotency-Key records older than TRADENET_IDEMPOTENCY_HOURS (24). Run it daily "
        "(cron, a Kubernetes CronJob); expired keys are otherwise only replaced when reused."
    )

    def handle(self, *args, **options):
        deleted = purge_expired()
        hours = settings.TRADENET_IDEMPOTENCY_HOURS
        self.stdout.write(f"Deleted {deleted} idempotency records older than {hours:g} hours.")
