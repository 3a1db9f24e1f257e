"""Pushpin (GRIP) as the edge that holds the clients' connections.

Through Pushpin, a stream request is answered once: the replay, plus instructions to hold the
connection open on some channels. Events are then published to Pushpin, which writes them to every
client it holds on those channels. App workers hold no connection per client at all.

Channels follow the scopes: `tradenet-all` (dispatch staff), `tradenet-user-<id>` (an operator's
all-events stream, one channel so an event touching two of their stations arrives once),
`tradenet-station-<code>` and `tradenet-shipment-<id>`.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import urllib.request

import jwt
from django.conf import settings

from updates.streams.scopes import StreamScope

logger = logging.getLogger(__name__)


def enabled() -> bool:
    return bool(settings.GRIP_URLS)


def is_proxied(headers: dict[bytes, bytes]) -> bool:
    """A request that came through Pushpin (its signature checks out, when a key is set)."""
    if not enabled():
        return False
    signature = headers.get(b"grip-sig")
    if not signature:
        return False
    if not settings.GRIP_KEY:
        return True
    try:
        jwt.decode(signature.decode("latin-1"), settings.GRIP_KEY, algorithms=["HS256"])
    except jwt.InvalidTokenError:
        return False
    return True


def channels_for(kind: str, scope: StreamScope, user) -> list[str]:
    """The channels a stream is held on: its scope's, and its user's revocation channel (a
    close is published there when the user's credentials are revoked)."""
    if kind == "shipment":
        channels = [f"tradenet-shipment-{scope.shipment_id}"]
    elif kind == "station":
        channels = [f"tradenet-station-{code}" for code in sorted(scope.stations)]
    else:
        channels = ["tradenet-all"] if scope.everything else [f"tradenet-user-{user.pk}"]
    return [*channels, revoke_channel(user.pk)]


def revoke_channel(user_id: int) -> str:
    return f"tradenet-revoke-{user_id}"


def hold_headers(channels: list[str], prev_ids: dict[str, int], next_link: str):
    """A hold on `channels`, each following its id in `prev_ids` (updates/streams/sequence.py),
    with the link Pushpin asks for what it missed."""
    keepalive = int(settings.TRADENET_SSE_KEEPALIVE_SECONDS)
    held = ", ".join(
        f"{channel}; prev-id={prev_ids[channel]}" if channel in prev_ids else channel
        for channel in channels
    )
    return [
        (b"grip-hold", b"stream"),
        (b"grip-channel", held.encode()),
        (b"grip-link", f"<{next_link}>; rel=next".encode()),
        (b"grip-keep-alive", f": keep-alive\\n\\n; format=cstring; timeout={keepalive}".encode()),
    ]


NEXT_PATH = "/api/updates/pushpin-next/"
LINK_MAX_AGE = 7 * 24 * 3600  # a stream held longer reconnects (and resumes) once a week


def _link_cipher():
    return _cipher_for(settings.SECRET_KEY)


@functools.cache
def _cipher_for(secret_key: str):
    """Derived once per key, not on every hold and link request."""
    import base64
    import hashlib

    from cryptography.fernet import Fernet

    key = hashlib.sha256(b"tradenet-pushpin-next-link:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def next_link(credential, kind: str, key: str | None, after: int) -> str:
    """The hold's next link: the stream's credential, scope and position, encrypted (Pushpin
    sends link requests without the client's headers; the credential is checked again there,
    and never readable in a URL that Pushpin may log)."""
    payload = json.dumps(
        {
            "u": credential.user_id,
            "c": credential.kind,
            "s": credential.key,
            "k": kind,
            "key": key,
            "after": after,
        }
    )
    return f"{NEXT_PATH}?link={_link_cipher().encrypt(payload.encode()).decode()}"


def last_ids(grip_last: str) -> list[int]:
    """The ids in a Grip-Last header (`channel; last-id=42, other; last-id=40`)."""
    found = re.findall(r"last-id=(\d{1,18})", grip_last)
    return [int(value) for value in found]


def read_link(token: str) -> dict | None:
    from cryptography.fernet import InvalidToken

    try:
        return json.loads(_link_cipher().decrypt(token.encode(), ttl=LINK_MAX_AGE))
    except (InvalidToken, ValueError):
        return None


def items_for(entries) -> list[tuple[int | None, dict]]:
    """The GRIP items for a batch of stored events, with the id of the event each carries:
    each event on every channel of a stream allowed to see it, a revocation as a close on its
    user's channel (no id: not an event a stream receives)."""
    from inventory.access import operators_by_station
    from updates.streams.hub import StoredEvent

    stored_events = [StoredEvent.from_entry(entry) for entry in entries]
    operators = operators_by_station(code for event in stored_events for code in event.stations)
    items = []
    for event in stored_events:
        if event.revoked is not None:
            # Pushpin holds no credential to tell the user's streams apart: all of them close,
            # and those still signed in reconnect (and resume with Last-Event-ID).
            channel = revoke_channel(event.revoked["user_id"])
            items.append(
                (None, {"channel": channel, "formats": {"http-stream": {"action": "close"}}})
            )
            continue
        if not event.frame:
            continue
        channels = {"tradenet-all", *(f"tradenet-station-{code}" for code in event.stations)}
        if event.shipment_id:
            channels.add(f"tradenet-shipment-{event.shipment_id}")
        for code in event.stations:
            channels.update(f"tradenet-user-{uid}" for uid in operators.get(code, ()))
        content = event.frame.decode()
        items += [
            (event.id, {"channel": channel, "formats": {"http-stream": {"content": content}}})
            for channel in sorted(channels)
        ]
    return items


def post(url: str, items: list[dict], timeout: float = 5) -> None:
    """One publish request to one Pushpin (raises when it does not take it)."""
    request = urllib.request.Request(
        url.rstrip("/") + "/publish/",
        data=json.dumps({"items": items}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()
