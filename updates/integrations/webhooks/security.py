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
#
# A target is checked where it is used: at registration (`check_target`, the API's and the
# admin's 400), and by the sender at the moment it connects (`checked_resolver`: the addresses a
# connection may go to are the ones the rules were applied to, with nothing in between to
# resolve the name again, and no answer cached beyond that connection's lookup).
#
# The rules, for the addresses a name resolves to (every one must pass) or an address in the URL:
# - IPv4: global unicast only (`ipaddress`'s is_global: not loopback, private, shared
#   100.64/10, link-local and so on), not multicast.
# - IPv6 prefixes that carry an IPv4 address to a translator are judged by that IPv4 address,
#   as the packet would end up there: ::ffff:0:0/96 (IPv4-mapped, reaches the IPv4 stack of a
#   dual-stack host), 64:ff9b::/96 (NAT64's well-known prefix, RFC 6052) and 2002::/16 (6to4,
#   RFC 3056). So 64:ff9b::808:808 passes (8.8.8.8 through NAT64, as an IPv6-only network
#   reaches the world), 64:ff9b::7f00:1 and 2002:a00:1:: do not.
# - Translation prefixes whose IPv4 address cannot be read off reliably, or which exist for
#   private use, are refused whatever they embed: 64:ff9b:1::/48 (local-use NAT64, RFC 8215:
#   where the address sits depends on the operator's prefix length), ::/96 (IPv4-compatible,
#   deprecated), ::ffff:0:0:0/96 (SIIT's IPv4-translated) and 2001::/32 (Teredo, its client
#   address obfuscated). Python 3.11's is_global calls several of these global, hence the list.
# - Any other IPv6 address: global unicast only, not multicast.
# TRADENET_WEBHOOK_ALLOW_PRIVATE (on with DEBUG) lifts the address rules, not the URL's shape.

_REFUSED_V6 = [
    (ipaddress.ip_network("64:ff9b:1::/48"), "local-use NAT64 (64:ff9b:1::/48)"),
    (ipaddress.ip_network("::/96"), "IPv4-compatible (::/96)"),
    (ipaddress.ip_network("::ffff:0:0:0/96"), "IPv4-translated (::ffff:0:0:0/96)"),
    (ipaddress.ip_network("2001::/32"), "Teredo (2001::/32)"),
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class RefusedTarget(ValueError):
    """A URL that webhooks may not be sent to."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a translation prefix carries the packet to, if it has one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour  # 2002::/16, else None


def refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why a webhook may not connect to `address`, as "<address>, <what it is>" (None: it
    may)."""
    if address.version == 6 and not (address.is_loopback or address.is_unspecified):
        inner = _embedded_ipv4(address)
        if inner is not None:
            reason = refusal(inner)
            return f"{address}, which leads to {reason}" if reason else None
        for network, name in _REFUSED_V6:
            if address in network:
                return f"{address}, a {name} address"
    if not address.is_global or address.is_multicast:
        return f"{address}, a loopback, private, link-local, reserved or multicast address"
    return None


def _host_and_port(url: str) -> tuple[str, int]:
    """The URL's host and port, or RefusedTarget saying what is wrong with its shape."""
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError when out of range (99999) or not a number
    except ValueError as exc:
        raise RefusedTarget(f"Not a usable URL ({exc}).") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedTarget("Use an http:// or https:// URL with a host.")
    if port == 0:
        raise RefusedTarget("Port 0 is not a port one can connect to.")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _refuse(host: str, address) -> None:
    reason = refusal(address)
    if reason:
        said = reason if str(address) == host else f"{host} resolves to {reason}"
        raise RefusedTarget(f"{said}; webhooks go to public addresses only.")


def check_url(url: str) -> None:
    """What can be checked of a URL without resolving its name: its shape, and the address if
    it is one (aiohttp connects to an address in the URL without asking the resolver)."""
    host, _ = _host_and_port(url)
    if settings.TRADENET_WEBHOOK_ALLOW_PRIVATE:
        return
    address = _literal(host)
    if address is not None:
        _refuse(host, address)


def check_target(url: str) -> None:
    """Refuse URLs that are not http(s) with a valid port, or whose host is or resolves to an
    address the rules above refuse (unless TRADENET_WEBHOOK_ALLOW_PRIVATE): at registration.
    The sender applies the same rules to the addresses it connects to (`checked_resolver`)."""
    check_url(url)
    host, port = _host_and_port(url)
    if settings.TRADENET_WEBHOOK_ALLOW_PRIVATE or _literal(host) is not None:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise RefusedTarget(f"{host} does not resolve ({exc}).") from None
    for info in infos:
        _refuse(host, ipaddress.ip_address(info[4][0]))


def checked_resolver(lookup=None):
    """An aiohttp resolver that returns only addresses the rules allow, or raises RefusedTarget:
    the connection goes to what was checked. `lookup` (an aiohttp AbstractResolver; aiohttp's
    default one if None) answers the names: the seam a test puts a DNS of its own at. The class
    is made here because only the sender imports aiohttp (the API and the admin use this module
    too)."""
    from aiohttp.abc import AbstractResolver
    from aiohttp.resolver import DefaultResolver

    class CheckedResolver(AbstractResolver):
        def __init__(self, lookup):
            self.lookup = lookup if lookup is not None else DefaultResolver()

        async def resolve(self, host, port=0, family=socket.AF_INET):
            answers = await self.lookup.resolve(host, port, family)
            if not settings.TRADENET_WEBHOOK_ALLOW_PRIVATE:
                for answer in answers:
                    # One refused answer refuses the name: a mix of public and private
                    # addresses is how a rebinding name gets a second chance.
                    _refuse(host, ipaddress.ip_address(answer["host"]))
            return answers

        async def close(self):
            await self.lookup.close()

    return CheckedResolver(lookup)
