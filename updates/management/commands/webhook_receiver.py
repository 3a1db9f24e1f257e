"""A webhook receiver to try webhooks with: prints each event TradeNet delivers, after checking
its Standard Webhooks signature with the endpoint's secret. For development and for seeing
what a delivery looks like; a real receiver is the operator's own system."""

from __future__ import annotations

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.core.management.base import BaseCommand, CommandError
from standardwebhooks import Webhook, WebhookVerificationError


class Command(BaseCommand):
    help = (
        "Receive TradeNet's webhooks on http://HOST:PORT/ and print each event. With --secret "
        "(or TRADENET_WEBHOOK_SECRET) every delivery's signature is verified and a forged or "
        "stale one is answered 401. Register it with "
        '{"url": "http://127.0.0.1:9000/tradenet"} (private addresses are allowed when '
        "DJANGO_DEBUG is on, or with TRADENET_WEBHOOK_ALLOW_PRIVATE=1)."
    )
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=9000)
        parser.add_argument(
            "--secret",
            default=os.environ.get("TRADENET_WEBHOOK_SECRET", ""),
            help="The endpoint's secret (whsec_...), as the creation answered it.",
        )
        parser.add_argument(
            "--count", type=int, default=0, help="Stop after this many events (0: never)."
        )

    def handle(self, *args, host: str, port: int, secret: str, count: int, **options):
        verifier = Webhook(secret) if secret else None
        received = threading.Semaphore(0)
        out = self.stdout

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                if verifier is not None:
                    try:
                        verifier.verify(body, headers)
                    except WebhookVerificationError as exc:
                        out.write(f"refused {headers.get('webhook-id', '?')}: {exc}")
                        self._answer(401)
                        return
                out.write(describe(headers.get("webhook-id", "?"), body, verified=bool(verifier)))
                self._answer(204)
                received.release()

            def _answer(self, status: int):
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format, *args):  # the events are the log
                pass

        try:
            server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc.strerror}.") from None
        threading.Thread(target=server.serve_forever, daemon=True).start()
        how = "verifying signatures" if verifier else "NOT verifying signatures (no --secret)"
        out.write(f"Receiving webhooks on http://{host}:{port}/, {how}. Ctrl-C stops.")
        sys.stdout.flush()
        try:
            for _ in range(count) if count else iter(int, 1):
                received.acquire()
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()


def describe(webhook_id: str, body: bytes, *, verified: bool) -> str:
    mark = "verified" if verified else "unverified"
    try:
        event = json.dumps(json.loads(body), sort_keys=True)
    except ValueError:
        event = f"a body that is not JSON ({len(body)} bytes)"
    return f"{webhook_id} ({mark}): {event[:400]}"
