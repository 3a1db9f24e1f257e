"""JSON parsing that refuses text PostgreSQL cannot store.

PostgreSQL text cannot hold NUL characters, and UTF-8 cannot encode unpaired surrogates (which
JSON's \\uD800 escapes can produce). Either would fail deep in the database driver as a 500, so
they are refused at the door as a 400 instead.
"""

from __future__ import annotations

import re

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def contains_unstorable_text(value) -> bool:
    if isinstance(value, str):
        return bool(UNSTORABLE.search(value))
    if isinstance(value, dict):
        return any(
            contains_unstorable_text(k) or contains_unstorable_text(v) for k, v in value.items()
        )
    if isinstance(value, list):
        return any(contains_unstorable_text(v) for v in value)
    return False


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if contains_unstorable_text(data):
            raise ParseError("JSON strings may not contain NUL characters or unpaired surrogates.")
        return data
