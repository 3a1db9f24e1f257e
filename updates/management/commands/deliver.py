"""The relay and the exporters as a process of their own, for servers that run none of them.

The ASGI server runs them in its own processes (updates.delivery, in the app's lifespan). A
WSGI server (gunicorn tradenet.wsgi, runserver) has no lifespan, nor has daphne: beside one of
those, run `manage.py deliver`, or committed events wait in the outbox (kept, never lost) and
reach no stream, feed or webhook. One of each worker is active per deployment (an advisory
lock), so running it on several hosts only adds standbys.
"""

from __future__ import annotations

import signal

from django.core.management.base import BaseCommand

from updates.delivery import every_worker


class Command(BaseCommand):
    help = (
        "Run the relay (outbox -> event log, Redis, Pushpin) and the exporters (RabbitMQ feed, "
        "webhooks) until SIGTERM or Ctrl-C: beside a server that runs none of them (gunicorn "
        "tradenet.wsgi, manage.py runserver, daphne). docs/deployment.md#entry-points"
    )

    def handle(self, *args, **options):
        # Blocked before any thread starts (threads inherit the mask) and taken by sigwait in
        # this thread: no handler runs at an arbitrary point of the main thread.
        stop_signals = {signal.SIGTERM, signal.SIGINT}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        workers = every_worker()
        for worker in workers:
            worker.start()
        names = ", ".join(worker.thread_name for worker in workers)
        self.stdout.write(f"Delivering committed events ({names}); SIGTERM or Ctrl-C stops.")
        self.stdout.flush()
        signal.sigwait(stop_signals)
        for worker in workers:  # all told first, then each awaited: one wait, not one each
            worker.stopping.set()
        for worker in workers:
            worker.stop()
        self.stdout.write("Stopped.")
