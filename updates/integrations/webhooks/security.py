"""What protects webhooks: their secrets, sealed at rest, and the guard on their targets."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import secrets
import socket
from urllib.parse import urlsplit

from django.conf import settings

logger = logging.getLogger(__name__)

EXCERPT = 500


# Secrets


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _fernet():
    from cryptography.fernet import Fernet

    key = hashlib.sha256(f"{settings.SECRET_KEY}:webhook-secrets".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str) -> str:
    """The secret encrypted with a key derived from SECRET_KEY (rotating SECRET_KEY means
    rotating every endpoint's secret)."""
    return _fernet().encrypt(secret.encode()).decode()


def unseal(sealed: str) -> str:
    return _fernet().decrypt(sealed.encode()).decode()


# Targets


class RefusedTarget(ValueError):
    """A URL that webhooks may not be sent to."""


def check_target(url: str) -> None:
    """Refuse URLs that are not http(s), or whose host resolves to a loopback, private,
    link-local, reserved or metadata address (unless TRADENET_WEBHOOK_ALLOW_PRIVATE)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedTarget("Use an http:// or https:// URL with a host.")
    if settings.TRADENET_WEBHOOK_ALLOW_PRIVATE:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise RefusedTarget(f"{parts.hostname} does not resolve ({exc}).") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise RefusedTarget(
                f"{parts.hostname} resolves to {address}, a loopback, private, link-local or "
                "reserved address; webhooks go to public addresses only."
            )


async def check_target_async(url: str) -> None:
    """`check_target` without blocking the sender's loop on name resolution."""
    import asyncio

    if settings.TRADENET_WEBHOOK_ALLOW_PRIVATE:
        return
    await asyncio.get_running_loop().run_in_executor(None, check_target, url)
