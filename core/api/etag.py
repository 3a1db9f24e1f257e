"""ETags for detail responses, and If-Match for writes (412 when stale).

The tag is a digest of the representation the client would read, so it changes exactly when
what they saw changes.
"""

from __future__ import annotations

import hashlib
import json

from django.core.serializers.json import DjangoJSONEncoder
from drf_spectacular.utils import OpenApiParameter

from .errors import PreconditionFailed

# The header of conditional writes, for the schema of every view that honours it.
IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="The ETag you read; a stale one gets 412.",
)


def etag_for(data) -> str:
    body = json.dumps(data, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"))
    return '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'


def check_if_match(request, current_data) -> None:
    """Raise 412 if the request carries an If-Match that no longer matches.

    `current_data` may be a callable, so the representation is only built when asked for.
    """
    header = request.headers.get("If-Match")
    if not header:
        return
    wanted = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    if "*" in wanted:
        return
    if callable(current_data):
        current_data = current_data()
    if etag_for(current_data) not in wanted:
        raise PreconditionFailed()


class ETagMixin:
    """Adds an ETag to a viewset's detail (retrieve) responses and honours If-None-Match."""

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        return with_etag(request, response)


def with_etag(request, response):
    if response.status_code == 200:
        tag = etag_for(response.data)
        response["ETag"] = tag
        if request.headers.get("If-None-Match") == tag:
            response.status_code = 304
            response.data = None
    return response
