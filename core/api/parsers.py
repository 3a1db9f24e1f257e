"""JSON parsing that refuses what would otherwise fail late, ambiguously or expensively.

- Text PostgreSQL cannot store: NUL characters, and unpaired surrogates (which JSON's \\uD800
  escapes can produce). Either would fail deep in the database driver as a 500.
- Duplicate keys in an object: Python keeps the last, other parsers and proxies the first, so
  a permission check and a write could read different values. Refused, naming the key.
- Nesting deeper than MAX_DEPTH: a body nested 100,000 levels deep made the parser raise
  RecursionError (a 500); no request of this API nests more than a few levels.
- A body over DATA_UPLOAD_MAX_MEMORY_SIZE: 413 in the error shape (DRF reads the body for
  JSON parsers before calling them, so the exception handler maps Django's RequestDataTooBig).
"""

from __future__ import annotations

import codecs
import json

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from core.text import UNSTORABLE

MAX_DEPTH = 32


def contains_unstorable_text(value) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if UNSTORABLE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def depth(value) -> int:
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            inner = item.values() if isinstance(item, dict) else item
            pending.extend((child, level + 1) for child in inner)
    return deepest


def _refuse_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise ParseError(f"JSON object has the key {key!r} more than once.")
        seen[key] = value
    return seen


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        raw = stream.read() if stream is not None else b""
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.decode(raw, encoding)
            data = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
        except RecursionError:
            raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.") from None
        except ValueError as exc:  # also UnicodeDecodeError
            raise ParseError(f"JSON parse error - {exc}") from None
        if depth(data) > MAX_DEPTH:
            raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.")
        if contains_unstorable_text(data):
            raise ParseError("JSON strings may not contain NUL characters or unpaired surrogates.")
        return data
