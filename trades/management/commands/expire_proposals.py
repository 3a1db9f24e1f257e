from django.core.management.base import BaseCommand

from trades.proposals import proposals_expire


class Command(BaseCommand):
    help = (
        "Record the expiry of every open proposal past its time (TRADENET_PROPOSAL_TTL_SECONDS) "
        "and announce proposal.expired for each. Run it every few minutes (cron, a Kubernetes "
        "CronJob): a lapsed proposal can be accepted no more whether or not this has run, but "
        "only this tells the streams, the feed and the webhooks."
    )

    def handle(self, *args, **options):
        expired = proposals_expire()
        self.stdout.write(f"{expired} proposals expired.")
