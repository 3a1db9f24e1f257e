"""`manage.py webhook_receiver`: the receiver docs/integrations.md's webhook example starts.
It prints deliveries whose signature verifies with the endpoint's secret, and answers 401 to
others."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

from tests.servers import ROOT, free_port, server_env
from updates.integrations.webhooks.security import new_secret


def test_the_receiver_prints_signed_events_and_refuses_forged_ones(tmp_path):
    secret, port = new_secret(), free_port()
    log = open(tmp_path / "receiver.log", "w+")  # noqa: SIM115
    receiver = subprocess.Popen(
        [sys.executable, "manage.py", "webhook_receiver", "--port", str(port),
         "--secret", secret, "--count", "1"],
        cwd=ROOT, env={**server_env(), "DJANGO_SECRET_KEY": "x" * 50}, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/tradenet"
        deadline = time.monotonic() + 60
        while "Receiving webhooks" not in (log.seek(0) or log.read()):
            assert receiver.poll() is None and time.monotonic() < deadline, log.read()
            time.sleep(0.1)
        body = '{"transaction_id":"txn-1","status":"initiated"}'
        forged = Webhook(new_secret()).sign("42", datetime.now(UTC), body)
        now = datetime.now(UTC)
        headers = {"webhook-id": "42", "webhook-timestamp": str(int(now.timestamp()))}

        refused = httpx.post(url, content=body, headers={**headers, "webhook-signature": forged})
        signed = Webhook(secret).sign("42", now, body)
        accepted = httpx.post(url, content=body, headers={**headers, "webhook-signature": signed})

        assert (refused.status_code, accepted.status_code) == (401, 204)
        assert receiver.wait(30) == 0  # --count 1: it stops after the one event
        output = log.seek(0) or log.read()
        assert "refused 42" in output
        assert '42 (verified): {"status": "initiated", "transaction_id": "txn-1"}' in output
    finally:
        receiver.kill()
        log.close()
