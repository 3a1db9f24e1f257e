"""Limits counted by the fleet, not by each worker: two servers sharing one Redis count one
throttle between them, and while that Redis is away they keep answering (each counting alone)."""

from __future__ import annotations

import httpx
import pytest

from tests.servers import server_env, uvicorn_server

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in_attempts(server, count: int) -> list[int]:
    """Wrong passwords at the token endpoint (its own throttle scope, `auth`)."""
    body = {"username": "nobody", "password": "wrong"}
    return [
        httpx.post(f"{server}/api/auth/token/", json=body, timeout=10).status_code
        for _ in range(count)
    ]


def test_two_servers_count_one_throttle_and_keep_answering_without_redis(private_redis):
    env = server_env(REDIS_URL=private_redis.url, TRADENET_THROTTLE_AUTH="6/min")
    with uvicorn_server(env=env, workers=2) as a, uvicorn_server(env=env, workers=2) as b:
        # 3 + 3 attempts from one address, over four worker processes on two servers: the
        # limit of 6 a minute is reached by them together, not by each.
        assert sign_in_attempts(a, 3) + sign_in_attempts(b, 3) == [400] * 6
        assert sign_in_attempts(a, 1) + sign_in_attempts(b, 1) == [429, 429]

        private_redis.stop()
        # No shared count meanwhile: answered from each process's own count (so 400 again at
        # first), never a 500.
        during = sign_in_attempts(a, 4) + sign_in_attempts(b, 4)
        assert set(during) <= {400, 429} and 400 in during, during
